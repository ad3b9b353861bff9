"""Payout arithmetic (pure): dust limits, transaction size, fee rate bounds, coin selection.

Amounts are integer satoshis, fee rates integer sat/vB, sizes virtual bytes (vB) or
weight units (WU, 4 WU = 1 vB). Inputs are P2WPKH unless a caller passes the custody script's
input weight (:mod:`domain.custody_script`: P2WSH multisig custody).

Exception tree::

    PayoutError (code; a domain.errors.CodedError and a ValueError)
     ├── DustOutput          dust_output
     ├── InsufficientFunds   insufficient_funds
     └── InvalidFeeBounds    invalid_fee_bounds
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from domain.bitcoin_address import ScriptType
from domain.bitcoin_chain import OutputAmount
from domain.errors import CodedError

DUST_LIMIT_SATS = 546
"""Smallest output the engine creates: the P2PKH dust threshold at Bitcoin Core's 3 sat/vB dust relay fee."""

DUST_THRESHOLD_SATS: Mapping[ScriptType, int] = {
    ScriptType.P2PKH: 546,
    ScriptType.P2SH: 540,
    ScriptType.P2WPKH: 294,
    ScriptType.P2WSH: 330,
    ScriptType.P2TR: 330,
}
"""Per-script dust thresholds of Bitcoin Core policy (GetDustThreshold, dustrelayfee 3000 sat/kvB)."""

_OUTPUT_SCRIPT_BYTES = {
    ScriptType.P2PKH: 25,
    ScriptType.P2SH: 23,
    ScriptType.P2WPKH: 22,
    ScriptType.P2WSH: 34,
    ScriptType.P2TR: 34,
}
TX_OVERHEAD_WU = 4 * (4 + 4 + 1 + 1) + 2
"""version + locktime + input/output counts (non-witness, x4) + segwit marker and flag (WU)."""
P2WPKH_INPUT_WU = 4 * (32 + 4 + 1 + 4) + (1 + 1 + 72 + 1 + 33)
"""outpoint + empty scriptSig + sequence (x4), plus witness: item count, DER sig (<= 72 with
sighash byte) and compressed pubkey. An upper bound: real signatures are 71 bytes or less."""


class PayoutError(CodedError, ValueError):
    """A payout cannot be planned; ``code`` is stable."""

    code = "payout_error"


class DustOutput(PayoutError):
    """An output amount is below the dust limit of its script."""

    code = "dust_output"


class InsufficientFunds(PayoutError):
    """The spendable UTXOs cannot cover the amount plus the fee."""

    code = "insufficient_funds"


class InvalidFeeBounds(PayoutError):
    """The configured fee floor is above the cap, or below 1 sat/vB."""

    code = "invalid_fee_bounds"


@dataclass(frozen=True)
class SpendableUtxo(OutputAmount):
    """A custody output the wallet can sign for.

    Attributes:
        txid: transaction id (hex, display order).
        vout: output index.
        amount_sats: value in satoshis.
        branch: 0 receive chain, 1 change (internal) chain (BIP 84).
        derivation_index: index on that chain.
    """

    branch: int
    derivation_index: int


class SpendsUtxos:
    """What a planned transaction that spends custody outputs (``inputs``) knows about them; the
    plans (dataclasses) declare ``inputs`` as their field."""

    inputs: tuple[SpendableUtxo, ...]

    @property
    def input_sats(self) -> int:
        """What the inputs hold together, in satoshis."""
        return sum(u.amount_sats for u in self.inputs)


@dataclass(frozen=True)
class PayoutPlan(SpendsUtxos):
    """Inputs, fee and change of one payout. ``change_sats`` is 0 when no change output is made."""

    inputs: tuple[SpendableUtxo, ...]
    amount_sats: int
    fee_sats: int
    change_sats: int
    fee_rate_sat_vb: int
    vsize_vb: int


def min_output_sats(script_type: ScriptType, dust_limit_sats: int = DUST_LIMIT_SATS) -> int:
    """Smallest amount (sats) the engine pays to ``script_type``: max(Core dust threshold, configured limit)."""
    return max(DUST_THRESHOLD_SATS[script_type], dust_limit_sats)


def output_vbytes(script_type: ScriptType) -> int:
    """Size of one output in vB (value 8 + script length 1 + script; non-witness, so exact)."""
    return 8 + 1 + _OUTPUT_SCRIPT_BYTES[script_type]


def estimate_vsize(n_inputs: int, output_types: Sequence[ScriptType], *, input_weight_wu: int = P2WPKH_INPUT_WU) -> int:
    """Upper bound of the virtual size (vB) of a tx with ``n_inputs`` inputs of ``input_weight_wu``
    each (P2WPKH by default) and the given outputs. Source: BIP 141 weight."""
    weight = TX_OVERHEAD_WU + n_inputs * input_weight_wu
    weight += sum(4 * output_vbytes(t) for t in output_types)
    return -(-weight // 4)


def clamp_fee_rate(
    estimates_sat_vb: Mapping[int, int], *, target_blocks: int, floor_sat_vb: int, cap_sat_vb: int
) -> int:
    """Fee rate (sat/vB) for confirmation within ``target_blocks``, bounded by config.

    Uses the estimate of the largest target <= ``target_blocks`` (the next larger one if none);
    no estimates at all gives the floor.

    Raises:
        InvalidFeeBounds: floor < 1 or floor > cap.
    """
    if floor_sat_vb < 1 or floor_sat_vb > cap_sat_vb:
        raise InvalidFeeBounds(f"fee floor {floor_sat_vb} / cap {cap_sat_vb} sat/vB")
    within = [t for t in estimates_sat_vb if t <= target_blocks]
    later = [t for t in estimates_sat_vb if t > target_blocks]
    if within:
        rate = estimates_sat_vb[max(within)]
    elif later:
        rate = estimates_sat_vb[min(later)]
    else:
        rate = floor_sat_vb
    return min(max(rate, floor_sat_vb), cap_sat_vb)


def largest_first(utxos: Sequence[SpendableUtxo]) -> list[SpendableUtxo]:
    """The order coin selection takes inputs in: largest amount first, ties by outpoint, so a
    plan is the same whatever order the UTXOs were read in."""
    return sorted(utxos, key=lambda u: (-u.amount_sats, u.txid, u.vout))


def select_exact_or_change(
    utxos: Sequence[SpendableUtxo], *, amount_sats: int, min_change_sats: int
) -> tuple[tuple[SpendableUtxo, ...], int]:
    """Inputs, taken :func:`largest_first`, until they hold exactly ``amount_sats`` (no change) or
    exceed it by at least ``min_change_sats`` (a change output that is not dust); the fee comes out
    of ``amount_sats``, not on top of it.

    Returns:
        The chosen inputs and the change, in satoshis (0: no change output).

    Raises:
        InsufficientFunds: every UTXO together cannot cover ``amount_sats`` with a non-dust change.
    """
    chosen: list[SpendableUtxo] = []
    total = 0
    for utxo in largest_first(utxos):
        chosen.append(utxo)
        total += utxo.amount_sats
        change = total - amount_sats
        if change == 0 or change >= min_change_sats:
            return tuple(chosen), change
    raise InsufficientFunds(f"{total} sats in {len(chosen)} UTXOs cannot pay {amount_sats} sats")


def plan_payout(
    *,
    amount_sats: int,
    recipient_type: ScriptType,
    fee_rate_sat_vb: int,
    utxos: Sequence[SpendableUtxo],
    dust_limit_sats: int = DUST_LIMIT_SATS,
) -> PayoutPlan:
    """Choose inputs and change for one BTC payout (largest-first, P2WPKH change).

    Args:
        amount_sats: what the recipient receives, in satoshis.
        recipient_type: the recipient's script template.
        fee_rate_sat_vb: fee rate in sat/vB, already clamped to config bounds.
        utxos: spendable custody outputs.
        dust_limit_sats: smallest output the engine creates (default 546).

    Returns:
        The plan; the fee is ``fee_rate_sat_vb * estimate_vsize(...)``. Change below the dust
        limit is left to the fee instead of making an output.

    Raises:
        DustOutput: amount below ``min_output_sats(recipient_type)``.
        InsufficientFunds: the UTXOs cannot cover amount plus fee.

    Source: BIP 141 (weight), Bitcoin Core dust policy.
    """
    if amount_sats < min_output_sats(recipient_type, dust_limit_sats):
        raise DustOutput(f"{amount_sats} sats is below the dust limit for {recipient_type}")
    chosen: list[SpendableUtxo] = []
    total = 0
    for utxo in largest_first(utxos):
        chosen.append(utxo)
        total += utxo.amount_sats
        with_change = estimate_vsize(len(chosen), [recipient_type, ScriptType.P2WPKH])
        change = total - amount_sats - fee_rate_sat_vb * with_change
        if change >= min_output_sats(ScriptType.P2WPKH, dust_limit_sats):
            return PayoutPlan(tuple(chosen), amount_sats, fee_rate_sat_vb * with_change, change, fee_rate_sat_vb, with_change)
        no_change = estimate_vsize(len(chosen), [recipient_type])
        if total - amount_sats >= fee_rate_sat_vb * no_change:
            return PayoutPlan(tuple(chosen), amount_sats, total - amount_sats, 0, fee_rate_sat_vb, no_change)
    raise InsufficientFunds(f"{total} sats in {len(chosen)} UTXOs cannot pay {amount_sats} sats plus fee")
