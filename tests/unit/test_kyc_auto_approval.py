"""Screening alone approves tier 1 and no higher tier (``domain/kyc_auto_approval.py``)."""

from __future__ import annotations

from domain.kyc import DecisionKind
from domain.kyc_review import AUTO_APPROVAL_MAX_TIER, auto_approval


def test_tier_one_is_approved_without_an_officer() -> None:
    decision = auto_approval(AUTO_APPROVAL_MAX_TIER)
    assert decision is not None and decision.decision == DecisionKind.APPROVE
    assert decision.officer_id == "" and decision.reason == "automatic: tier 1 screening passed"


def test_the_next_tier_waits_for_an_officer() -> None:
    assert auto_approval(AUTO_APPROVAL_MAX_TIER + 1) is None
