"""Which stage a withdrawal shows: while its payout batch moves, and when it ends. Pure rules
for ``WithdrawalWorkflow``."""

from __future__ import annotations

from enum import StrEnum

from domain.operations import OperationStage, OperationStatus
from domain.payout_steering import PayoutStatus


class PayoutItemStatus(StrEnum):
    """Where one withdrawal's payout stands (``ItemState.status``: the item's, then its payout's)."""

    QUEUED = "queued"
    """Waiting for its batch to close."""
    AWAITING_SIGNATURE = "awaiting_signature"
    SIGNED = "signed"
    BROADCAST = "broadcast"
    CONFIRMED = "confirmed"
    """The payout settled at its depth."""
    CANCELLED = "cancelled"
    """Taken out of its batch (a compensation)."""
    FAILED = "failed"
    """No payout can include it."""


_BATCH_STAGES = {
    PayoutItemStatus.QUEUED: OperationStage.AWAITING_BATCH,
    PayoutItemStatus.AWAITING_SIGNATURE: OperationStage.SIGNING,
    PayoutItemStatus.SIGNED: OperationStage.PAYING_OUT,
    PayoutItemStatus.BROADCAST: OperationStage.AWAITING_PAYOUT_CONFIRMATIONS,
}


def batch_stage(item_status: str) -> OperationStage:
    """The stage a withdrawal in a batch shows for its item's status (``awaiting_batch`` for any
    status without a stage of its own)."""
    try:
        return _BATCH_STAGES.get(PayoutItemStatus(item_status), OperationStage.AWAITING_BATCH)
    except ValueError:
        return OperationStage.AWAITING_BATCH


def final_stage(status: OperationStatus) -> OperationStage:
    """The last stage of an operation that ended with ``status``: ``completed`` and
    ``cancelled`` have their own, every other end is ``failed``."""
    if status == OperationStatus.COMPLETED:
        return OperationStage.COMPLETED
    return OperationStage.CANCELLED if status == OperationStatus.CANCELLED else OperationStage.FAILED


class PayoutStage(StrEnum):
    """The stages ``PayoutWorkflow`` shows (``CustodyStage``): one payout transaction and its versions."""

    SIGNING = "signing"
    PAYING_OUT = "paying_out"
    AWAITING_PAYOUT_CONFIRMATIONS = "awaiting_payout_confirmations"
    BUMPING = "bumping"
    SETTLING = "settling"
    CONFIRMED = "confirmed"
    ABANDONED = "abandoned"


#: Payout statuses that end ``PayoutWorkflow`` (the stage then shows the status).
PAYOUT_ENDED = frozenset({PayoutStatus.CONFIRMED, PayoutStatus.ABANDONED})
