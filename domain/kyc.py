"""KYC vocabulary and lifecycle: tiers, record statuses, legal transitions, decisions.

Tiers and their on-chain numbers follow CONTRACTS.md (``kyc_registry``): 0 None, 1 Basic,
2 Verified, 3 Enhanced, 4 Institutional.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum, StrEnum

from domain.errors import DomainError

DOCUMENT_TYPES = frozenset({"passport", "national_id", "drivers_license"})
#: How long an approval lasts before the expiry timer revokes it (product rule, CONTRACTS.md expires_at).
APPROVAL_VALIDITY_DAYS = 365


class KycTier(IntEnum):
    NONE = 0
    BASIC = 1
    VERIFIED = 2
    ENHANCED = 3
    INSTITUTIONAL = 4


class KycStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"
    REVOKED = "revoked"


class KycStage(StrEnum):
    """Where a KYC approval workflow is (search attribute ``CustodyStage``)."""

    SCREENING = "screening"
    AWAITING_REVIEW = "awaiting_review"
    REGISTERING = "registering"
    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"
    NEEDS_ATTENTION = "needs_attention"


_TRANSITIONS: dict[KycStatus, frozenset[KycStatus]] = {
    KycStatus.PENDING: frozenset({KycStatus.APPROVED, KycStatus.REJECTED}),
    KycStatus.APPROVED: frozenset({KycStatus.EXPIRED, KycStatus.REVOKED}),
    KycStatus.REJECTED: frozenset(),
    KycStatus.EXPIRED: frozenset(),
    KycStatus.REVOKED: frozenset(),
}


class IllegalKycTransition(DomainError):
    code = "illegal_kyc_transition"


class KycAlreadyPending(DomainError):
    code = "kyc_already_pending"


class SelfReview(DomainError):
    """A compliance officer tried to decide their own KYC record."""

    code = "self_review"


class InvalidDecision(DomainError):
    code = "invalid_decision"


def check_kyc_transition(current: KycStatus, new: KycStatus) -> None:
    """Raise :class:`IllegalKycTransition` unless ``current → new`` is allowed."""
    if new not in _TRANSITIONS[current]:
        raise IllegalKycTransition(f"a {current} KYC record cannot become {new}")


class DecisionKind(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"


@dataclass(frozen=True)
class KycDecision:
    """A compliance officer's decision on one record (Temporal update and signal payload).

    ``officer_id`` is a user id string; ``reason`` is free text, required to reject.
    """

    decision: DecisionKind
    officer_id: str
    reason: str | None = None


def validate_decision(decision: KycDecision, subject_user_id: str) -> None:
    """Raise :class:`SelfReview` or :class:`InvalidDecision` for a decision that may not be recorded."""
    if decision.officer_id == subject_user_id:
        raise SelfReview("a compliance officer cannot decide their own KYC record")
    if decision.decision == DecisionKind.REJECT and not (decision.reason or "").strip():
        raise InvalidDecision("a rejection needs a reason")


def mask_document_number(number: str) -> str:
    """Show only the last 3 characters (``*****789``); short numbers are fully masked."""
    if len(number) <= 4:
        return "*" * len(number)
    return "*" * (len(number) - 3) + number[-3:]
