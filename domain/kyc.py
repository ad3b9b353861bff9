"""KYC vocabulary and lifecycle: tiers, record statuses, legal transitions, decisions.

Tiers and their on-chain numbers follow docs/CONTRACTS.md (``kyc_registry``): 0 None, 1 Basic,
2 Verified, 3 Enhanced, 4 Institutional.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from enum import IntEnum, StrEnum

from domain.decisions import DecisionKind, InvalidDecision
from domain.errors import DomainError

DOCUMENT_TYPES = frozenset({"passport", "national_id", "drivers_license"})
#: How long an approval lasts before the expiry timer revokes it (product rule, docs/CONTRACTS.md expires_at).
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


#: The lowest tier whose approval needs a jurisdiction. Every approval registers the customer on
#: ``kyc_registry``, whose ``register_customer`` refuses an empty jurisdiction (InvalidInput,
#: docs/CONTRACTS.md), so ``verification_data.country`` is required from Basic up: on every
#: submission. It is checked at submit, never discovered at approval.
JURISDICTION_REQUIRED_FROM_TIER = KycTier.BASIC
#: Where the country is in a submission (API field path).
COUNTRY_FIELD = "verification_data.country"


class KycStage(StrEnum):
    """Where a KYC approval workflow is (search attribute ``CustodyStage``)."""

    SCREENING = "screening"
    AWAITING_REVIEW = "awaiting_review"
    #: The record lacks a field the registration needs (records submitted before the field was
    #: required); the user supplies it with ``PUT /api/kyc/records/{id}`` and the workflow resumes.
    AWAITING_USER_DATA = "awaiting_user_data"
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


class SelfReview(DomainError):
    """A compliance officer tried to decide their own KYC record."""

    code = "self_review"


class TierNotOffered(DomainError):
    """The requested tier has no limits configured (``kyc.tier_limits``): approving it would
    register a tier that allows nothing."""

    code = "tier_not_offered"
    field = "tier"


class TierBelowCurrent(DomainError):
    """The requested tier is below the user's approved tier: registering it on ``kyc_registry``
    would lower the tier the chain enforces. Renewing the same tier is allowed."""

    code = "tier_below_current"
    field = "tier"


def check_requested_tier(tier: int, *, current_tier: int, offered: Collection[int]) -> None:
    """Allow a submission for ``tier`` by a user whose effective tier is ``current_tier``.

    Raises:
        TierNotOffered: ``tier`` is not among ``offered`` (the tiers with configured limits).
        TierBelowCurrent: ``tier < current_tier`` (equal is a renewal and passes).
    """
    if tier not in offered:
        listed = ", ".join(str(t) for t in sorted(offered))
        raise TierNotOffered(f"tier {tier} is not offered; choose one of {listed}")
    if tier < current_tier:
        raise TierBelowCurrent(f"you are approved for tier {current_tier}; submit for tier {current_tier} or higher")


def missing_for_registration(*, tier: int, jurisdiction: str | None) -> tuple[str, ...]:
    """Fields a record still lacks for its on-chain registration (empty when complete)."""
    if tier >= JURISDICTION_REQUIRED_FROM_TIER and not (jurisdiction or "").strip():
        return (COUNTRY_FIELD,)
    return ()


def check_kyc_transition(current: KycStatus, new: KycStatus) -> None:
    """Raise :class:`IllegalKycTransition` unless ``current → new`` is allowed."""
    if new not in _TRANSITIONS[current]:
        raise IllegalKycTransition(f"a {current} KYC record cannot become {new}")


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
