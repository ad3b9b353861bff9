"""KYC rules around a record (pure): which tiers are approved without an officer (the API's
answer and the approval workflow's automatic decision), what a pending record still lacks, and
what the user can do next, in words."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from domain.decisions import DecisionKind
from domain.kyc import KycDecision, KycStatus, KycTier, missing_for_registration

#: The highest tier approved automatically once screening passes; higher tiers wait for a
#: compliance officer (docs/DESIGN.md §5, KYC approval).
AUTO_APPROVAL_MAX_TIER = KycTier.BASIC
#: Why a record stopped counting, as the user reads it (statuses that end a record).
_ENDED_BECAUSE = {KycStatus.REJECTED: "was rejected", KycStatus.EXPIRED: "expired", KycStatus.REVOKED: "was revoked"}


AUTO_APPROVAL_REASON = "automatic: tier 1 screening passed"


def approves_automatically(tier: int) -> bool:
    """Whether a submission for ``tier`` is approved without an officer once screening passes."""
    return tier <= AUTO_APPROVAL_MAX_TIER


def auto_approval(tier: int) -> KycDecision | None:
    """The approval of a record asking for ``tier`` whose screening passed, when no officer is
    needed (``KycApprovalWorkflow``'s second step); None when an officer must decide."""
    if not approves_automatically(tier):
        return None
    return KycDecision(DecisionKind.APPROVE, officer_id="", reason=AUTO_APPROVAL_REASON)


@dataclass(frozen=True)
class RecordFacts:
    """What the rules read of one KYC record: its id, status, tier, jurisdiction and expiry."""

    record_id: uuid.UUID
    status: KycStatus
    tier: int
    jurisdiction: str | None = None
    expires_at: datetime | None = None


def missing_fields(record: RecordFacts | None) -> tuple[str, ...]:
    """Fields a *pending* record lacks for its registration (empty for none or any other status)."""
    if record is None or record.status != KycStatus.PENDING:
        return ()
    return missing_for_registration(tier=record.tier, jurisdiction=record.jurisdiction)


def next_action(record: RecordFacts | None, tier: int, now: datetime) -> str | None:
    """What the user can do next about their KYC, in words (None when nothing is needed).

    ``record`` is the user's latest record, ``tier`` their effective tier (0 when none counts).
    """
    if record is None:
        return "submit KYC (POST /api/kyc/submit) to deposit and withdraw"
    missing = missing_fields(record)
    if missing:
        return f"add {', '.join(missing)} with PUT /api/kyc/records/{record.record_id}; the review then goes on"
    if record.status == KycStatus.PENDING or tier != 0:
        return None
    why = _ENDED_BECAUSE.get(record.status)
    if record.status == KycStatus.APPROVED and record.expires_at is not None and record.expires_at <= now:
        why = "expired"
    return f"your KYC {why}: submit again (POST /api/kyc/submit)" if why else None
