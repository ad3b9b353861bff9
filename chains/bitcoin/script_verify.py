"""Input signature verification for the spends the engine makes (P2WPKH, P2WSH multisig, P2TR key path).

Used by the external signer to check a returned PSBT (the Esplora sandbox judges
transactions with Bitcoin Core's libbitcoinkernel instead). Hashing and curve work are embit's; this module applies the rules:

* P2WPKH (BIP 141/143): empty scriptSig, witness ``[sig+hashtype, pubkey33]``, HASH160(pubkey)
  equals the program, ECDSA signature (strict DER, low S) over the BIP 143 digest.
* P2WSH M-of-N ``OP_CHECKMULTISIG`` (BIP 141/143): empty scriptSig, witness
  ``[<empty>, sig1..sigM, witness script]``, SHA256(witness script) equals the program, the
  script is ``OP_M <key>×N OP_N OP_CHECKMULTISIG``, and the signatures verify against the keys
  in script order (``OP_CHECKMULTISIG`` semantics: each key is tried once, in order).
* P2TR key path (BIP 341): empty scriptSig, witness ``[sig64]`` or ``[sig64+hashtype]``,
  BIP 340 Schnorr signature by the output key over the BIP 341 digest.

Any other spent script is refused: a custody engine never needs to spend it.
"""

from __future__ import annotations

from collections.abc import Sequence

from embit import hashes
from embit.base import EmbitError
from embit.ec import PublicKey, SchnorrSig, Signature
from embit.script import Script
from embit.transaction import Transaction, TransactionOutput

_ECDSA_HASHTYPES = {0x01, 0x02, 0x03, 0x81, 0x82, 0x83}
_TAPROOT_HASHTYPES = _ECDSA_HASHTYPES | {0x00}


class InvalidSpend(ValueError):
    """An input does not carry a valid signature for the output it spends (``reason`` says why)."""

    def __init__(self, input_index: int, reason: str) -> None:
        super().__init__(f"input {input_index}: {reason}")
        self.input_index = input_index
        self.reason = reason


def verify_transaction(tx: Transaction, prevouts: Sequence[TransactionOutput]) -> None:
    """Check every input of ``tx`` against the output it spends (``prevouts[i]`` for input i).

    Raises:
        InvalidSpend: the first input that fails, with the reason.
    """
    if len(prevouts) != len(tx.vin):
        raise InvalidSpend(0, "one spent output is needed per input")
    for index in range(len(tx.vin)):
        verify_input(tx, index, prevouts)


def verify_input(tx: Transaction, index: int, prevouts: Sequence[TransactionOutput]) -> None:
    """Check input ``index``. Raises InvalidSpend. Source: BIP 141, 143, 340, 341."""
    # embit caches sighash midstates (amounts, prevouts) on the Transaction object; a cache filled
    # by an earlier call with other prevouts would let a signature over the wrong amount pass.
    tx.clear_cache()
    script = prevouts[index].script_pubkey
    kind = script.script_type()
    vin = tx.vin[index]
    if vin.script_sig.data:
        raise InvalidSpend(index, "native segwit spends need an empty scriptSig")
    items = list(vin.witness.items) if vin.witness else []
    try:
        if kind == "p2wpkh":
            _verify_p2wpkh(tx, index, script, prevouts[index].value, items)
        elif kind == "p2wsh":
            _verify_p2wsh_multisig(tx, index, script, prevouts[index].value, items)
        elif kind == "p2tr":
            _verify_p2tr_key_path(tx, index, prevouts, items)
        else:
            raise InvalidSpend(index, f"spending {kind or 'non-standard'} outputs is not supported")
    except (EmbitError, ValueError) as exc:
        if isinstance(exc, InvalidSpend):
            raise
        raise InvalidSpend(index, f"malformed signature or key: {exc}") from exc


def _verify_p2wpkh(tx: Transaction, index: int, script: Script, value: int, items: list[bytes]) -> None:
    if len(items) != 2:
        raise InvalidSpend(index, "P2WPKH witness must hold a signature and a public key")
    signature, pubkey = items
    if len(pubkey) != 33 or hashes.hash160(pubkey) != script.data[2:]:
        raise InvalidSpend(index, "public key does not match the witness program")
    if not signature or signature[-1] not in _ECDSA_HASHTYPES:
        raise InvalidSpend(index, "missing or unknown sighash type")
    code = Script(b"\x76\xa9\x14" + script.data[2:] + b"\x88\xac")
    digest = tx.sighash_segwit(index, code, value, sighash=signature[-1])
    if not PublicKey.parse(pubkey).verify(Signature.parse(signature[:-1]), digest):
        raise InvalidSpend(index, "signature does not verify (BIP 143)")


def multisig_keys(witness_script: bytes) -> tuple[int, list[bytes]]:
    """``(M, [33-byte keys])`` of an ``OP_M <key>×N OP_N OP_CHECKMULTISIG`` script.

    Raises:
        ValueError: any other script.
    """
    if len(witness_script) < 37 or witness_script[-1] != 0xAE:
        raise ValueError("not a multisig script")
    m, n = witness_script[0] - 0x50, witness_script[-2] - 0x50
    if not 1 <= m <= n <= 16 or len(witness_script) != 3 + 34 * n:
        raise ValueError("not a multisig script")
    keys = []
    for i in range(n):
        push = witness_script[1 + 34 * i: 1 + 34 * (i + 1)]
        if push[0] != 33:
            raise ValueError("multisig keys must be compressed")
        keys.append(push[1:])
    return m, keys


def verify_v0_signature(tx: Transaction, index: int, script_code: bytes, value: int, pubkey: bytes,
                        signature: bytes) -> bool:
    """True when ``signature`` (DER + SIGHASH_ALL) by ``pubkey`` signs input ``index`` spending a
    segwit v0 output of ``value`` sats whose script code is ``script_code`` (the witness script
    of a P2WSH output, the P2PKH template of a P2WPKH one): the BIP 143 digest."""
    tx.clear_cache()
    if not signature or signature[-1] != 0x01:
        return False
    try:
        digest = tx.sighash_segwit(index, Script(script_code), value, sighash=0x01)
        return PublicKey.parse(pubkey).verify(Signature.parse(signature[:-1]), digest)
    except (EmbitError, ValueError):
        return False


def _verify_p2wsh_multisig(tx: Transaction, index: int, script: Script, value: int, items: list[bytes]) -> None:
    if len(items) < 3 or items[0] != b"":
        raise InvalidSpend(index, "P2WSH multisig witness must be [<empty>, signatures..., witness script]")
    witness_script, signatures = items[-1], items[1:-1]
    if hashes.sha256(witness_script) != script.data[2:]:
        raise InvalidSpend(index, "witness script does not match the witness program")
    try:
        m, keys = multisig_keys(witness_script)
    except ValueError as exc:
        raise InvalidSpend(index, str(exc)) from exc
    if len(signatures) != m:
        raise InvalidSpend(index, f"{len(signatures)} signatures for a {m}-of-{len(keys)} script")
    remaining = list(keys)
    for signature in signatures:
        while remaining and not verify_v0_signature(tx, index, witness_script, value, remaining[0], signature):
            remaining.pop(0)
        if not remaining:
            raise InvalidSpend(index, "signatures do not verify against the script's keys in order (BIP 143)")
        remaining.pop(0)


def _verify_p2tr_key_path(tx: Transaction, index: int, prevouts: Sequence[TransactionOutput], items: list[bytes]) -> None:
    if len(items) != 1:
        raise InvalidSpend(index, "only taproot key-path spends (one witness item) are supported")
    signature = items[0]
    if len(signature) == 64:
        hashtype = 0x00
    elif len(signature) == 65 and signature[-1] in _TAPROOT_HASHTYPES - {0x00}:
        hashtype = signature[-1]
    else:
        raise InvalidSpend(index, "taproot signature must be 64 bytes or 65 with a sighash type")
    digest = tx.sighash_taproot(
        index,
        script_pubkeys=[p.script_pubkey for p in prevouts],
        values=[p.value for p in prevouts],
        sighash=hashtype,
    )
    output_key = PublicKey.from_xonly(prevouts[index].script_pubkey.data[2:])
    if not output_key.schnorr_verify(SchnorrSig(signature[:64]), digest):
        raise InvalidSpend(index, "schnorr signature does not verify (BIP 341)")
