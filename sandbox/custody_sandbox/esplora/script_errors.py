"""Bitcoin Core's name for why an input's script fails (the text inside the reject reason).

Only called for an input that ``consensus.failing_input`` (libbitcoinkernel) has already found
invalid: this module never decides validity, it names the failure the way Core's
``ScriptErrorString`` would under ``STANDARD_SCRIPT_VERIFY_FLAGS`` (Core reports the error of
its standard-flags run, so a failed non-empty signature reads as the NULLFAIL text). It reads
the templates the sandbox is used with (P2PKH, P2SH-P2WPKH, P2SH multisig, P2WPKH, P2WSH
multisig, P2TR key path), checking signatures with embit where the name depends on which one
is wrong. Anything else gets Core's generic false-stack text.

Source: Bitcoin Core ``script/interpreter.cpp`` (VerifyScript, VerifyWitnessProgram,
OP_CHECKSIG/OP_CHECKMULTISIG), ``script/script_error.cpp`` (the strings).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from embit import hashes
from embit.ec import PublicKey, Signature
from embit.script import Script
from embit.transaction import Transaction, TransactionOutput

from custody_sandbox.esplora.script_asm import pushes
from custody_sandbox.esplora.scripts import multisig_params, solve

EVAL_FALSE = "Script evaluated without error but finished with a false/empty top stack element"
EQUALVERIFY = "Script failed an OP_EQUALVERIFY operation"
STACK = "Operation not valid with the current stack size"
NULLFAIL = "Signature must be zero for failed CHECK(MULTI)SIG operation"
NULLDUMMY = "Dummy CHECKMULTISIG argument must be zero"
DER = "Non-canonical DER signature"
HASHTYPE = "Signature hash type missing or not understood"
PUBKEYTYPE = "Public key is neither compressed or uncompressed"
SIG_PUSHONLY = "Only push operators allowed in signatures"
CLEANSTACK = "Stack size must be exactly one after execution"
WITNESS_MALLEATED = "Witness requires empty scriptSig"
WITNESS_MALLEATED_P2SH = "Witness requires only-redeemscript scriptSig"
WITNESS_UNEXPECTED = "Witness provided for non-witness script"
WITNESS_EMPTY = "Witness program was passed an empty witness"
WITNESS_MISMATCH = "Witness program hash mismatch"
SCHNORR_SIZE = "Invalid Schnorr signature size"
SCHNORR_HASHTYPE = "Invalid Schnorr signature hash type"
SCHNORR_SIG = "Invalid Schnorr signature"
CONTROL_SIZE = "Invalid Taproot control block size"

_ECDSA_HASHTYPES = {0x01, 0x02, 0x03, 0x81, 0x82, 0x83}


class _Fail(Exception):
    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


def diagnose(tx: Transaction, index: int, prevouts: Sequence[TransactionOutput]) -> str:
    """Core's script error text for input ``index`` of ``tx`` (known to be invalid)."""
    tx.clear_cache()  # embit caches BIP 143/341 midstates per Transaction object
    try:
        _input(tx, index, prevouts)
    except _Fail as failure:
        return failure.text
    except Exception:  # noqa: BLE001 - malformed keys or signatures embit cannot parse
        return DER
    return EVAL_FALSE


def _input(tx: Transaction, index: int, prevouts: Sequence[TransactionOutput]) -> None:
    vin = tx.vin[index]
    spk = prevouts[index].script_pubkey.data
    value = prevouts[index].value
    script_sig = vin.script_sig.data
    witness = list(vin.witness.items) if vin.witness else []
    kind = solve(spk)
    if kind in ("witness_v0_keyhash", "witness_v0_scripthash", "witness_v1_taproot"):
        if script_sig:
            raise _Fail(WITNESS_MALLEATED)
        _witness_program(tx, index, prevouts, spk, value, witness)
        return
    stack = pushes(script_sig)
    if stack is None:
        raise _Fail(SIG_PUSHONLY)
    if kind == "pubkeyhash":
        _p2pkh(tx, index, spk, value, stack, witness_v0=False, script_code=spk)
    elif kind == "scripthash":
        if not stack:
            raise _Fail(STACK)
        redeem = stack[-1]
        if hashes.hash160(redeem) != spk[2:22]:
            raise _Fail(EVAL_FALSE)
        inner = solve(redeem)
        if inner in ("witness_v0_keyhash", "witness_v0_scripthash"):
            if len(stack) != 1 or script_sig != bytes([len(redeem)]) + redeem:
                raise _Fail(WITNESS_MALLEATED_P2SH)
            _witness_program(tx, index, prevouts, redeem, value, witness)
            return
        _multisig(tx, index, redeem, value, stack[:-1], witness_v0=False)
    elif kind == "multisig":
        _multisig(tx, index, spk, value, stack, witness_v0=False)
    if witness:
        raise _Fail(WITNESS_UNEXPECTED)


def _witness_program(tx, index, prevouts, program_script: bytes, value: int, witness: list[bytes]) -> None:
    kind = solve(program_script)
    program = program_script[2:]
    if kind == "witness_v0_keyhash":
        if len(witness) != 2:
            raise _Fail(WITNESS_MISMATCH)
        code = b"\x76\xa9\x14" + program + b"\x88\xac"
        _p2pkh(tx, index, code, value, witness, witness_v0=True, script_code=code)
    elif kind == "witness_v0_scripthash":
        if not witness:
            raise _Fail(WITNESS_EMPTY)
        script = witness[-1]
        if hashlib.sha256(script).digest() != program:
            raise _Fail(WITNESS_MISMATCH)
        if multisig_params(script) is None:
            raise _Fail(EVAL_FALSE)
        _multisig(tx, index, script, value, witness[:-1], witness_v0=True)
    elif kind == "witness_v1_taproot":
        _taproot(tx, index, prevouts, program, witness)


def _p2pkh(tx, index, spk: bytes, value: int, stack: list[bytes], *, witness_v0: bool, script_code: bytes) -> None:
    if not stack:
        raise _Fail(STACK)
    pubkey = stack[-1]
    if hashes.hash160(pubkey) != spk[3:23]:
        raise _Fail(EQUALVERIFY)
    if len(stack) < 2:
        raise _Fail(STACK)
    signature = stack[-2]
    if not _checksig(tx, index, signature, pubkey, script_code, value, witness_v0):
        raise _Fail(NULLFAIL if signature else EVAL_FALSE)
    if len(stack) > 2:
        raise _Fail(CLEANSTACK)


def _multisig(tx, index, script: bytes, value: int, stack: list[bytes], *, witness_v0: bool) -> None:
    params = multisig_params(script)
    if params is None:
        raise _Fail(EVAL_FALSE)
    m, _n = params
    keys = pushes(script[1:-2]) or []
    if len(stack) < m + 1:
        raise _Fail(STACK)
    if len(stack) > m + 1 and witness_v0:
        raise _Fail(CLEANSTACK)
    dummy, sigs = stack[-(m + 1)], stack[-m:]
    # OP_CHECKMULTISIG: signatures must match keys in order; each key is tried once.
    ok, k = True, 0
    for sig in sigs:
        while k < len(keys) and not _checksig(tx, index, sig, keys[k], script, value, witness_v0):
            k += 1
        if k == len(keys):
            ok = False
            break
        k += 1
    if not ok:
        raise _Fail(NULLFAIL if any(sigs) else EVAL_FALSE)
    if dummy:
        raise _Fail(NULLDUMMY)


def _checksig(tx: Transaction, index: int, signature: bytes, pubkey: bytes, script_code: bytes, value: int, witness_v0: bool) -> bool:
    if not signature:
        return False
    if signature[-1] not in _ECDSA_HASHTYPES:
        raise _Fail(HASHTYPE)
    if not ((len(pubkey) == 33 and pubkey[0] in (2, 3)) or (len(pubkey) == 65 and pubkey[0] == 4)):
        raise _Fail(PUBKEYTYPE)
    try:
        sig = Signature.parse(signature[:-1])
    except Exception as exc:  # noqa: BLE001 - embit rejects non-DER encodings with several types
        raise _Fail(DER) from exc
    if witness_v0:
        digest = tx.sighash_segwit(index, Script(script_code), value, sighash=signature[-1])
    else:
        digest = tx.sighash_legacy(index, Script(script_code), sighash=signature[-1])
    return PublicKey.parse(pubkey).verify(sig, digest)


def _taproot(tx, index, prevouts, program: bytes, witness: list[bytes]) -> None:
    if not witness:
        raise _Fail(WITNESS_EMPTY)
    if len(witness) >= 2 and witness[-1][:1] == b"\x50":
        witness = witness[:-1]  # the annex (BIP 341)
    if len(witness) >= 2:
        control = witness[-1]
        if len(control) < 33 or (len(control) - 33) % 32 or len(control) > 33 + 128 * 32:
            raise _Fail(CONTROL_SIZE)
        raise _Fail(WITNESS_MISMATCH)
    signature = witness[0]
    if len(signature) not in (64, 65):
        raise _Fail(SCHNORR_SIZE)
    hashtype = signature[64] if len(signature) == 65 else 0
    if (len(signature) == 65 and hashtype == 0) or hashtype not in _ECDSA_HASHTYPES | {0}:
        raise _Fail(SCHNORR_HASHTYPE)
    raise _Fail(SCHNORR_SIG)

