"""Operation lifecycle vocabulary shared by the database, the API and the Temporal UI.

``status`` is coarse, for API clients; ``stage`` is fine-grained, for people watching a workflow.
Both are ``StrEnum`` so the stored text, the JSON and the search attribute value are the same.
"""

from __future__ import annotations

from enum import StrEnum

from domain.errors import DomainError


class OperationType(StrEnum):
    DEPOSIT = "deposit"
    WITHDRAWAL = "withdrawal"


class OperationStatus(StrEnum):
    """Client-facing state: ``pending → processing → completed | failed | cancelled``."""

    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_final(self) -> bool:
        return self in _FINAL


_FINAL = frozenset({OperationStatus.COMPLETED, OperationStatus.FAILED, OperationStatus.CANCELLED})

_ALLOWED: dict[OperationStatus, frozenset[OperationStatus]] = {
    OperationStatus.PENDING: frozenset(
        {OperationStatus.PROCESSING, OperationStatus.FAILED, OperationStatus.CANCELLED}
    ),
    OperationStatus.PROCESSING: _FINAL,
    OperationStatus.COMPLETED: frozenset(),
    OperationStatus.FAILED: frozenset(),
    OperationStatus.CANCELLED: frozenset(),
}


class IllegalTransition(DomainError):
    """A status change that the lifecycle forbids (for example ``completed → processing``)."""

    code = "illegal_transition"


def check_transition(current: OperationStatus, new: OperationStatus) -> None:
    """Allow ``current → new`` (or staying put); raise :class:`IllegalTransition` otherwise."""
    if current != new and new not in _ALLOWED[current]:
        raise IllegalTransition(f"operation status cannot go from {current} to {new}")


class OperationStage(StrEnum):
    """Where a workflow is, for people (search attribute ``CustodyStage``)."""

    RECEIVED = "received"
    VERIFYING = "verifying"
    AWAITING_CONFIRMATIONS = "awaiting_confirmations"
    KYC_CHECK = "kyc_check"
    #: Waiting on the user, not on an operator: their KYC is missing, pending, expired or below
    #: the tier the amount needs. Continues by itself once the KYC allows it.
    AWAITING_KYC = "awaiting_kyc"
    #: Waiting on the user's rolling limit window (24 h / 30 days) to free up; continues by itself.
    AWAITING_LIMITS = "awaiting_limits"
    SOLVENCY_CHECK = "solvency_check"
    MINTING = "minting"
    WATCHING = "watching"
    REORG_HOLD = "reorg_hold"
    """Minted, but the deposit's BTC left the canonical chain: its credit is held until it returns."""
    RESERVING = "reserving"
    AWAITING_APPROVAL = "awaiting_approval"
    BURNING = "burning"
    AWAITING_BATCH = "awaiting_batch"
    """Burned; waiting for the next payout batch to close (``domain.payout_batches``)."""
    SIGNING = "signing"
    PAYING_OUT = "paying_out"
    AWAITING_PAYOUT_CONFIRMATIONS = "awaiting_payout_confirmations"
    SETTLING = "settling"
    COMPENSATING = "compensating"
    NEEDS_ATTENTION = "needs_attention"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
