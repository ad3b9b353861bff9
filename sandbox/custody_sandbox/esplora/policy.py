"""Bitcoin Core 27.x standardness rules the sandbox applies before a transaction may enter its
mempool (``IsStandardTx``, ``AreInputsStandard``, ``IsWitnessStandard``), with Core's reasons.

Each check raises ``Rejected(-26, reason)``. Units: sizes in bytes, weight in WU.
Source: Bitcoin Core ``policy/policy.cpp`` and ``policy/policy.h`` (27.x defaults:
``-datacarriersize=83``, ``-permitbaremultisig=1``, ``-dustrelayfee=3000`` sat/kvB).
"""

from __future__ import annotations

from collections.abc import Sequence

from embit.transaction import Transaction, TransactionOutput

from custody_sandbox.esplora.errors import Rejected
from custody_sandbox.esplora.script_asm import opcodes, pushes
from custody_sandbox.esplora.scripts import MAX_OP_RETURN_RELAY_BYTES, dust_threshold_sats, multisig_params, solve
from custody_sandbox.esplora.weight import stripped_size, tx_weight

TX_MAX_STANDARD_VERSION = 2
MAX_STANDARD_TX_WEIGHT = 400_000
MIN_STANDARD_TX_NONWITNESS_SIZE = 65
MAX_STANDARD_SCRIPTSIG_SIZE = 1650
MAX_STANDARD_P2WSH_SCRIPT_SIZE = 3600
MAX_STANDARD_P2WSH_STACK_ITEMS = 100
MAX_STANDARD_P2WSH_STACK_ITEM_SIZE = 80
MAX_P2SH_SIGOPS = 15


def check_standard(tx: Transaction) -> None:
    """``IsStandardTx``: version, size, scriptSigs, output templates, dust, one OP_RETURN."""
    if not 1 <= tx.version <= TX_MAX_STANDARD_VERSION:
        raise Rejected(-26, "version")
    if tx_weight(tx) > MAX_STANDARD_TX_WEIGHT:
        raise Rejected(-26, "tx-size")
    for vin in tx.vin:
        if len(vin.script_sig.data) > MAX_STANDARD_SCRIPTSIG_SIZE:
            raise Rejected(-26, "scriptsig-size")
        if pushes(vin.script_sig.data) is None:
            raise Rejected(-26, "scriptsig-not-pushonly")
    data_outputs = 0
    for output in tx.vout:
        script = output.script_pubkey.data
        kind = solve(script)
        if kind == "nonstandard" or (kind == "nulldata" and len(script) > MAX_OP_RETURN_RELAY_BYTES):
            raise Rejected(-26, "scriptpubkey")
        if kind == "multisig" and not 1 <= multisig_params(script)[1] <= 3:
            raise Rejected(-26, "scriptpubkey")
        if kind == "nulldata":
            data_outputs += 1
        elif output.value < dust_threshold_sats(script):
            raise Rejected(-26, "dust")
    if data_outputs > 1:
        raise Rejected(-26, "multi-op-return")
    if stripped_size(tx) < MIN_STANDARD_TX_NONWITNESS_SIZE:
        raise Rejected(-26, "tx-size-small")


def check_inputs_standard(tx: Transaction, prevouts: Sequence[TransactionOutput]) -> None:
    """``AreInputsStandard`` and ``IsWitnessStandard`` for the outputs ``tx`` spends."""
    for vin, prevout in zip(tx.vin, prevouts, strict=True):
        spk = prevout.script_pubkey.data
        kind = solve(spk)
        if kind in ("nonstandard", "witness_unknown"):
            raise Rejected(-26, "bad-txns-nonstandard-inputs")
        redeem = None
        if kind == "scripthash":
            stack = pushes(vin.script_sig.data) or []
            if not stack:
                raise Rejected(-26, "bad-txns-nonstandard-inputs")
            redeem = stack[-1]
            if _sigops(redeem) > MAX_P2SH_SIGOPS:
                raise Rejected(-26, "bad-txns-nonstandard-inputs")
        witness = list(vin.witness.items) if vin.witness else []
        if not witness:
            continue
        program = redeem if redeem is not None else spk
        if solve(program) == "witness_v0_scripthash":
            script, items = witness[-1], witness[:-1]
            if (
                len(script) > MAX_STANDARD_P2WSH_SCRIPT_SIZE
                or len(items) > MAX_STANDARD_P2WSH_STACK_ITEMS
                or any(len(item) > MAX_STANDARD_P2WSH_STACK_ITEM_SIZE for item in items)
            ):
                raise Rejected(-26, "bad-witness-nonstandard")
        if solve(program) == "witness_v1_taproot" and len(witness) >= 2 and witness[-1][:1] == b"\x50":
            raise Rejected(-26, "bad-witness-nonstandard")  # an annex is non-standard


def _sigops(script: bytes) -> int:
    """Accurate sigop count of a redeem script (``GetSigOpCount(true)``)."""
    count, previous = 0, None
    for op in opcodes(script):
        if op in (0xAC, 0xAD):
            count += 1
        elif op in (0xAE, 0xAF):
            count += previous - 0x50 if previous is not None and 0x51 <= previous <= 0x60 else 20
        previous = op
    return count
