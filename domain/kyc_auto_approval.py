"""Which KYC submissions screening alone may approve (no compliance officer): the pure rule of
``KycApprovalWorkflow``'s second step."""

from __future__ import annotations

from domain.kyc import DecisionKind, KycDecision

#: The highest tier approved without an officer once sanctions screening passed (Basic).
AUTO_APPROVAL_MAX_TIER = 1
AUTO_APPROVAL_REASON = "automatic: tier 1 screening passed"


def auto_approval(tier: int) -> KycDecision | None:
    """The approval of a record asking for ``tier`` whose screening passed, when no officer is
    needed (tiers up to :data:`AUTO_APPROVAL_MAX_TIER`); None when an officer must decide."""
    if tier > AUTO_APPROVAL_MAX_TIER:
        return None
    return KycDecision(DecisionKind.APPROVE, officer_id="", reason=AUTO_APPROVAL_REASON)
