"""BIP 174 combiner and finalizer roles for custody payouts, with the checks a quorum needs.

The engine stores one PSBT per payout version. Signers (the hot signer, people and HSMs through
the admin API) return copies carrying their signatures; :func:`contribution` checks what a
returned PSBT adds and :func:`combine` merges it into the stored one. Once ``threshold``
distinct cosigner keys have signed every input, :func:`finalize` builds the witnesses and
verifies every input (``chains.bitcoin.script_verify``); before that no transaction exists.

A contribution must: spend and pay exactly what the stored PSBT does (same unsigned
transaction); carry only signatures by keys of the inputs' scripts (else ``foreign_signature``)
that verify with SIGHASH_ALL over the BIP 143 digest (else ``invalid_signature``); add a key not
yet present (else ``duplicate_signature``), exactly one (a signer holds one key:
``one_key_per_contribution``), on every input (``incomplete_contribution``). Signatures are read
from ``partial_sigs`` or, when a signer finalized the PSBT itself, from ``final_scriptwitness``.

Raises :class:`chains.bitcoin.errors.SignerError` / :class:`~chains.bitcoin.errors.PsbtMismatch`
with those codes. Source: BIP 174 (roles), BIP 143 (digest), BIP 383 (sortedmulti).
"""

from __future__ import annotations

from dataclasses import dataclass

from embit.base import EmbitError
from embit.psbt import PSBT
from embit.script import Witness
from embit.transaction import Transaction

from chains.bitcoin.errors import PsbtMismatch, SignerError
from chains.bitcoin.script_verify import InvalidSpend, multisig_keys, verify_transaction, verify_v0_signature
from chains.bitcoin.wallet import CustodyWallet


@dataclass(frozen=True)
class Contribution:
    """What one signer added: the cosigner key (index into ``wallet.account_keys``) and, per
    input, the 33-byte public key and its signature."""

    key_index: int
    fingerprint: str
    signatures: tuple[tuple[bytes, bytes], ...]


def parse(psbt_b64: str) -> PSBT:
    """Parse a base64 PSBT. Raises PsbtMismatch ``invalid_psbt``."""
    try:
        return PSBT.from_string(psbt_b64.strip())
    except (EmbitError, ValueError, TypeError, IndexError) as exc:
        raise PsbtMismatch("not a PSBT", code="invalid_psbt") from exc


def _script_keys(psbt: PSBT, index: int) -> tuple[bytes, list[bytes], int]:
    """``(script code for the digest, keys of the script, threshold)`` of input ``index``."""
    inp = psbt.inputs[index]
    if inp.witness_script is not None:
        m, keys = multisig_keys(inp.witness_script.data)
        return inp.witness_script.data, keys, m
    spk = inp.witness_utxo.script_pubkey.data
    keys = [k.sec() for k in inp.bip32_derivations]
    code = b"\x76\xa9\x14" + spk[2:] + b"\x88\xac"
    return code, keys, 1


def signatures(psbt: PSBT, index: int) -> dict[bytes, bytes]:
    """``pubkey -> signature`` present on input ``index`` (partial or in a final witness)."""
    inp = psbt.inputs[index]
    found = {k.sec(): v for k, v in inp.partial_sigs.items()}
    witness = list(inp.final_scriptwitness.items) if inp.final_scriptwitness else []
    if witness:
        code, keys, _ = _script_keys(psbt, index)
        value = inp.witness_utxo.value
        sigs = witness[1:-1] if inp.witness_script is not None else witness[:1]
        for sig in sigs:
            for key in keys:
                if key not in found and verify_v0_signature(psbt.tx, index, code, value, key, sig):
                    found[key] = sig
                    break
    return found


def _key_index(wallet: CustodyWallet, psbt: PSBT, index: int, pubkey: bytes) -> int | None:
    """Which account key of the wallet derived ``pubkey`` on input ``index`` (from the stored PSBT's
    BIP 32 derivations, whose origins the engine wrote)."""
    for pub, derivation in psbt.inputs[index].bip32_derivations.items():
        if pub.sec() != pubkey:
            continue
        for i, account in enumerate(wallet.account_keys):
            path = tuple(derivation.derivation)
            if derivation.fingerprint == account.fingerprint and path[: len(account.origin_path)] == account.origin_path:
                return i
    return None


def same_transaction(stored: PSBT, returned: PSBT) -> None:
    """Raise PsbtMismatch unless both PSBTs hold the same unsigned transaction."""
    if [(i.txid, i.vout) for i in returned.tx.vin] != [(i.txid, i.vout) for i in stored.tx.vin]:
        raise PsbtMismatch("the signed PSBT spends other inputs than the payout")
    if [(o.value, o.script_pubkey.data) for o in returned.tx.vout] != [(o.value, o.script_pubkey.data)
                                                                      for o in stored.tx.vout]:
        raise PsbtMismatch("the signed PSBT does not pay exactly the intended outputs")
    if returned.tx.txid() != stored.tx.txid():
        raise PsbtMismatch("the signed PSBT changed version, locktime or sequences")


def contribution(wallet: CustodyWallet, stored_b64: str, returned_b64: str) -> Contribution:
    """The one new cosigner key a returned PSBT adds to the stored one (module docstring rules).

    Raises:
        PsbtMismatch: ``invalid_psbt``, ``psbt_mismatch``.
        SignerError: ``foreign_signature``, ``invalid_signature``, ``duplicate_signature``,
            ``one_key_per_contribution``, ``incomplete_contribution``.
    """
    stored, returned = parse(stored_b64), parse(returned_b64)
    same_transaction(stored, returned)
    added: dict[int, dict[int, tuple[bytes, bytes]]] = {}
    for index in range(len(stored.inputs)):
        code, keys, _ = _script_keys(stored, index)
        value = stored.inputs[index].witness_utxo.value
        have = signatures(stored, index)
        # the returned copy is read against the stored input (its own fields are not trusted)
        returned.inputs[index].witness_utxo = stored.inputs[index].witness_utxo
        returned.inputs[index].witness_script = stored.inputs[index].witness_script
        returned.inputs[index].bip32_derivations = stored.inputs[index].bip32_derivations
        for pubkey, sig in _returned_signatures(returned, index, keys).items():
            if pubkey not in keys:
                raise SignerError(f"input {index} carries a signature by a key that is not a cosigner",
                                  code="foreign_signature")
            if not verify_v0_signature(stored.tx, index, code, value, pubkey, sig):
                raise SignerError(f"input {index}: a signature does not verify (SIGHASH_ALL, BIP 143)",
                                  code="invalid_signature")
            if pubkey in have:
                continue
            key_index = _key_index(wallet, stored, index, pubkey)
            if key_index is None:
                raise SignerError(f"input {index} carries a signature by a key that is not a cosigner",
                                  code="foreign_signature")
            added.setdefault(key_index, {})[index] = (pubkey, sig)
    if not added:
        raise SignerError("the PSBT adds no signature the payout does not have already", code="duplicate_signature")
    if len(added) > 1:
        raise SignerError("a contribution carries the signatures of one cosigner key", code="one_key_per_contribution")
    (key_index, by_input), = added.items()
    if len(by_input) != len(stored.inputs):
        raise SignerError(f"the key signed {len(by_input)} of {len(stored.inputs)} inputs", code="incomplete_contribution")
    fingerprint = wallet.account_keys[key_index].fingerprint.hex()
    return Contribution(key_index, fingerprint, tuple(by_input[i] for i in range(len(stored.inputs))))


def _returned_signatures(returned: PSBT, index: int, keys: list[bytes]) -> dict[bytes, bytes]:
    inp = returned.inputs[index]
    found = {k.sec(): v for k, v in inp.partial_sigs.items()}
    witness = list(inp.final_scriptwitness.items) if inp.final_scriptwitness else []
    if witness:
        sigs = witness[1:-1] if inp.witness_script is not None else witness[:1]
        code, _, _ = _script_keys(returned, index)
        for sig in sigs:
            match = next((k for k in keys if k not in found and verify_v0_signature(
                returned.tx, index, code, inp.witness_utxo.value, k, sig)), None)
            if match is None:
                raise SignerError(f"input {index}: a signature does not verify (SIGHASH_ALL, BIP 143)",
                                  code="invalid_signature")
            found[match] = sig
    return found


def combine(stored_b64: str, added: Contribution) -> str:
    """The stored PSBT with the contribution's signatures merged in (BIP 174 combiner)."""
    from embit.ec import PublicKey

    psbt = parse(stored_b64)
    for index, (pubkey, sig) in enumerate(added.signatures):
        psbt.inputs[index].partial_sigs[PublicKey.parse(pubkey)] = sig
    return psbt.to_string()


def signed_keys(wallet: CustodyWallet, psbt_b64: str) -> set[int]:
    """Cosigner keys that signed every input of the PSBT."""
    psbt = parse(psbt_b64)
    per_input = []
    for index in range(len(psbt.inputs)):
        keys = {_key_index(wallet, psbt, index, pub) for pub in signatures(psbt, index)}
        per_input.append({k for k in keys if k is not None})
    return set.intersection(*per_input) if per_input else set()


def finalize(psbt_b64: str) -> Transaction | None:
    """The final transaction once every input has its threshold of signatures (BIP 174
    finalizer and extractor), verified input by input; None while signatures are missing.

    Raises:
        SignerError ``invalid_signature``: a finalized input does not verify.
    """
    psbt = parse(psbt_b64)
    tx = Transaction.parse(psbt.tx.serialize())
    for index, inp in enumerate(psbt.inputs):
        code, keys, threshold = _script_keys(psbt, index)
        have = signatures(psbt, index)
        ordered = [have[k] for k in keys if k in have][:threshold]
        if len(ordered) < threshold:
            return None
        if inp.witness_script is not None:
            tx.vin[index].witness = Witness([b"", *ordered, inp.witness_script.data])
        else:
            tx.vin[index].witness = Witness([ordered[0], keys[0]])
    try:
        verify_transaction(tx, [i.witness_utxo for i in psbt.inputs])
    except InvalidSpend as exc:
        raise SignerError(str(exc), code="invalid_signature") from exc
    return tx
