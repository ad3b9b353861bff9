"""The KYC rules the API applies around a record (``domain.kyc_review``)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from domain.kyc import COUNTRY_FIELD, KycStatus, KycTier
from domain.kyc_review import AUTO_APPROVAL_MAX_TIER, RecordFacts, approves_automatically, missing_fields, next_action

NOW = datetime(2026, 1, 1, tzinfo=UTC)
RID = uuid.UUID(int=7)


def test_tier_1_is_approved_automatically_tier_2_waits_for_an_officer() -> None:
    assert AUTO_APPROVAL_MAX_TIER == KycTier.BASIC
    assert approves_automatically(AUTO_APPROVAL_MAX_TIER)
    assert not approves_automatically(AUTO_APPROVAL_MAX_TIER + 1)
    assert [t for t in KycTier if approves_automatically(t)] == [KycTier.NONE, KycTier.BASIC]


def test_missing_fields_only_of_a_pending_record() -> None:
    pending = RecordFacts(RID, KycStatus.PENDING, 2, jurisdiction=None)
    assert missing_fields(pending) == (COUNTRY_FIELD,)
    assert missing_fields(RecordFacts(RID, KycStatus.PENDING, 2, jurisdiction="CH")) == ()
    assert missing_fields(RecordFacts(RID, KycStatus.REJECTED, 2, jurisdiction=None)) == ()
    assert missing_fields(None) == ()


@pytest.mark.parametrize(("record", "tier", "action"), [
    (None, 0, "submit KYC (POST /api/kyc/submit) to deposit and withdraw"),
    (RecordFacts(RID, KycStatus.PENDING, 2), 0,
     f"add {COUNTRY_FIELD} with PUT /api/kyc/records/{RID}; the review then goes on"),
    (RecordFacts(RID, KycStatus.PENDING, 2, "CH"), 0, None),
    (RecordFacts(RID, KycStatus.REJECTED, 2, "CH"), 0, "your KYC was rejected: submit again (POST /api/kyc/submit)"),
    (RecordFacts(RID, KycStatus.REVOKED, 2, "CH"), 0, "your KYC was revoked: submit again (POST /api/kyc/submit)"),
    (RecordFacts(RID, KycStatus.EXPIRED, 2, "CH"), 0, "your KYC expired: submit again (POST /api/kyc/submit)"),
    # approved, and its expiry is now: expired (one second before: nothing to do, the tier counts)
    (RecordFacts(RID, KycStatus.APPROVED, 2, "CH", expires_at=NOW), 0,
     "your KYC expired: submit again (POST /api/kyc/submit)"),
    (RecordFacts(RID, KycStatus.APPROVED, 2, "CH", expires_at=NOW + timedelta(seconds=1)), 2, None),
    (RecordFacts(RID, KycStatus.REJECTED, 3, "CH"), 2, None),  # an older approval still counts
])
def test_next_action(record: RecordFacts | None, tier: int, action: str | None) -> None:
    assert next_action(record, tier, NOW) == action
