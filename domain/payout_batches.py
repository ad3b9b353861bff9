"""Batched withdrawals (pure): when a batch closes, how one transaction pays it, and each
withdrawal's share of the fee.

**When a batch closes.** Approved (burned) withdrawals queue for the next batch. A batch closes
``batch_interval_seconds`` after its oldest withdrawal joined the queue, or at once when the queue
holds ``batch_max_outputs`` withdrawals; a withdrawal that asked for ``asap`` is paid at once in
a transaction of its own (so it bears the whole overhead itself).

**The fee share.** One transaction pays every withdrawal of the batch. Its fee is the fee rate
(sat/vB) times its upper-bound virtual size. Each withdrawal pays its own output's vsize at that
rate, plus an equal share of the rest (the *overhead*: version, counts, locktime, the inputs and
the change output). The satoshis the equal split leaves over go one each to the first
withdrawals of the batch, so the shares add up to the fee exactly. The fee rule of
:mod:`domain.withdrawals` holds per withdrawal: custody spends exactly the withdrawn amount and
the recipient receives ``amount_sats - fee_share_sats``.

Amounts are satoshis, rates sat/vB, sizes vB. Source: BIP 141 (weight), Bitcoin Core dust policy.

Exception tree::

    PayoutError (domain.bitcoin_payout)
     ├── InsufficientFunds     insufficient_funds
     └── DustShares            dust_output (``item_ids``: who would receive dust after the share)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from domain.bitcoin_address import ScriptType
from domain.bitcoin_payout import (
    DUST_LIMIT_SATS,
    DustOutput,
    SpendableUtxo,
    SpendsUtxos,
    estimate_vsize,
    min_output_sats,
    output_vbytes,
    select_exact_or_change,
)
from domain.custody_script import P2WPKH_CUSTODY, CustodyScript

#: At most this many outputs in one transaction (one-byte output count; the vsize estimate
#: assumes it).
MAX_BATCH_OUTPUTS = 250


class DustShares(DustOutput):
    """After their fee shares these withdrawals would receive less than their dust limit."""

    def __init__(self, item_ids: Sequence[str]) -> None:
        super().__init__(f"{len(item_ids)} withdrawal(s) would receive dust after their fee share")
        self.item_ids = tuple(item_ids)


@dataclass(frozen=True)
class BatchRecipient:
    """One withdrawal of a batch: ``amount_sats`` is what it withdraws (and custody spends)."""

    item_id: str
    script_type: ScriptType
    amount_sats: int


@dataclass(frozen=True)
class BatchOutput(BatchRecipient):
    """One withdrawal's output: the recipient and its fee share, ``receives_sats = amount_sats - fee_share_sats``."""

    fee_share_sats: int

    @property
    def receives_sats(self) -> int:
        return self.amount_sats - self.fee_share_sats


@dataclass(frozen=True)
class BatchPlan(SpendsUtxos):
    """Inputs, outputs (in batch order), change and fee of one batch transaction."""

    inputs: tuple[SpendableUtxo, ...]
    outputs: tuple[BatchOutput, ...]
    change_sats: int
    fee_sats: int
    fee_rate_sat_vb: int
    vsize_vb: int

    @property
    def amount_sats(self) -> int:
        """What custody spends for the withdrawals (the sum of their amounts)."""
        return sum(o.amount_sats for o in self.outputs)


def fee_shares(*, fee_sats: int, fee_rate_sat_vb: int, output_vbytes_each: Sequence[int]) -> list[int]:
    """Each withdrawal's share of ``fee_sats``: its own output's vsize at the rate plus an equal
    share of the overhead; the remainder of the split goes one satoshi each to the first outputs.

    Args:
        fee_sats: the transaction's fee (rate x upper-bound vsize), satoshis.
        fee_rate_sat_vb: the rate the fee was computed at.
        output_vbytes_each: each withdrawal output's size in vB, in batch order (non-empty).

    Returns:
        One share per output, in order; they add up to ``fee_sats`` exactly.

    Raises:
        ValueError: no outputs, or the outputs alone cost more than the fee.
    """
    if not output_vbytes_each:
        raise ValueError("a batch pays at least one withdrawal")
    own = [fee_rate_sat_vb * vb for vb in output_vbytes_each]
    overhead = fee_sats - sum(own)
    if overhead < 0:
        raise ValueError("the fee does not cover the outputs' own size")
    base, rest = divmod(overhead, len(own))
    return [o + base + (1 if i < rest else 0) for i, o in enumerate(own)]


def plan_batch(
    *,
    recipients: Sequence[BatchRecipient],
    fee_rate_sat_vb: int,
    utxos: Sequence[SpendableUtxo],
    custody: CustodyScript = P2WPKH_CUSTODY,
    dust_limit_sats: int = DUST_LIMIT_SATS,
) -> BatchPlan:
    """Choose inputs for one transaction paying every recipient, each net of its fee share.

    Inputs are taken largest first until they equal the withdrawn total (no change) or exceed it
    by at least the change dust limit; the change goes back to custody.

    Raises:
        InsufficientFunds: the UTXOs cannot cover the total with a non-dust change.
        DustShares: some recipients would receive dust after their share (``item_ids``).
    """
    if not recipients or len(recipients) > MAX_BATCH_OUTPUTS:
        raise ValueError(f"a batch pays 1 to {MAX_BATCH_OUTPUTS} withdrawals")
    total = sum(r.amount_sats for r in recipients)
    min_change = min_output_sats(custody.output_type, dust_limit_sats)
    chosen, change = select_exact_or_change(utxos, amount_sats=total, min_change_sats=min_change)
    types = [r.script_type for r in recipients] + ([custody.output_type] if change else [])
    vsize = estimate_vsize(len(chosen), types, input_weight_wu=custody.input_weight_wu)
    fee = fee_rate_sat_vb * vsize
    shares = fee_shares(fee_sats=fee, fee_rate_sat_vb=fee_rate_sat_vb,
                        output_vbytes_each=[output_vbytes(r.script_type) for r in recipients])
    outputs = tuple(BatchOutput(r.item_id, r.script_type, r.amount_sats, s)
                    for r, s in zip(recipients, shares, strict=True))
    dust = [o.item_id for o in outputs if o.receives_sats < min_output_sats(o.script_type, dust_limit_sats)]
    if dust:
        raise DustShares(dust)
    return BatchPlan(chosen, outputs, change, fee, fee_rate_sat_vb, vsize)


# ---- when a batch closes --------------------------------------------------------------------

@dataclass(frozen=True)
class QueuedWithdrawal:
    """A withdrawal waiting for its batch: when it joined and whether it asked for ``asap``."""

    item_id: str
    queued_at: datetime
    asap: bool = False


def due_batches(
    queued: Sequence[QueuedWithdrawal], *, now: datetime, interval_seconds: float, max_outputs: int
) -> list[list[str]]:
    """The batches to close now, each a list of item ids in queue order (oldest first).

    Each ``asap`` withdrawal is a batch of its own. The others close in full batches of
    ``max_outputs`` at once, and a partial batch once its oldest member waited ``interval_seconds``.
    """
    batches = [[q.item_id] for q in sorted(queued, key=lambda q: (q.queued_at, q.item_id)) if q.asap]
    regular = sorted((q for q in queued if not q.asap), key=lambda q: (q.queued_at, q.item_id))
    while regular:
        waited = (now - regular[0].queued_at).total_seconds()
        if len(regular) < max_outputs and waited < interval_seconds:
            break
        batches.append([q.item_id for q in regular[:max_outputs]])
        regular = regular[max_outputs:]
    return batches


def seconds_until_due(
    queued: Sequence[QueuedWithdrawal], *, now: datetime, interval_seconds: float, max_outputs: int
) -> float | None:
    """Seconds until :func:`due_batches` closes a batch (0: now); None when nothing is queued."""
    if not queued:
        return None
    if due_batches(queued, now=now, interval_seconds=interval_seconds, max_outputs=max_outputs):
        return 0.0
    oldest = min(q.queued_at for q in queued)
    return max(0.0, interval_seconds - (now - oldest).total_seconds())
