"""KYC rules: limits at their boundaries, lifecycle transitions, decisions, masking, sanctions."""

from __future__ import annotations

import base64
import os

import pytest
from pydantic import SecretStr

from db.encryption import DecryptionFailed, RecordCipher
from domain.kyc import (
    DecisionKind,
    IllegalKycTransition,
    InvalidDecision,
    KycDecision,
    KycStatus,
    SelfReview,
    check_kyc_transition,
    mask_document_number,
    validate_decision,
)
from domain.limits import (
    InsufficientTier,
    LimitedOperation,
    LimitExceeded,
    Usage,
    check_operation,
    view,
)
from domain.sanctions import SanctionsList, normalise_name
from tests.fixtures.limits import BTC, limit_policy

POLICY = limit_policy(highest_tier=2)


@pytest.mark.parametrize(
    ("amount", "usage", "failing"),
    [
        (BTC // 100, Usage(), None),  # exactly the single limit
        (BTC // 100 + 1, Usage(), "single"),
        (1_000_000, Usage(daily_sats=4_000_000), None),  # lands exactly on the daily limit
        (1_000_000, Usage(daily_sats=4_000_001), "daily"),
        (1_000_000, Usage(daily_sats=0, monthly_sats=49_000_000), None),
        (1_000_000, Usage(daily_sats=0, monthly_sats=49_000_001), "monthly"),
    ],
)
def test_basic_deposit_limits_at_the_boundary(amount: int, usage: Usage, failing: str | None) -> None:
    if failing is None:
        check_operation(POLICY, LimitedOperation.DEPOSIT, 1, amount, usage)
    else:
        with pytest.raises(LimitExceeded) as info:
            check_operation(POLICY, LimitedOperation.DEPOSIT, 1, amount, usage)
        assert info.value.limit == failing


@pytest.mark.parametrize(("tier", "allowed"), [(0, False), (1, False), (2, True)])
def test_withdrawal_needs_verified(tier: int, allowed: bool) -> None:
    if allowed:
        check_operation(POLICY, LimitedOperation.WITHDRAWAL, tier, 1, Usage())
    else:
        with pytest.raises(InsufficientTier):
            check_operation(POLICY, LimitedOperation.WITHDRAWAL, tier, 1, Usage())


def test_tier_without_configured_limits_is_refused() -> None:
    with pytest.raises(InsufficientTier):
        check_operation(POLICY, LimitedOperation.DEPOSIT, 3, 1, Usage())


def test_nonpositive_amount_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        check_operation(POLICY, LimitedOperation.DEPOSIT, 1, 0, Usage())


def test_limit_view_reports_used_and_left() -> None:
    v = view(POLICY, 1, Usage(daily_sats=1_000_000, monthly_sats=60_000_000))
    assert v is not None
    assert (v.daily_left_sats, v.monthly_left_sats) == (4_000_000, 0)
    assert view(POLICY, 0, Usage()) is None


@pytest.mark.parametrize(
    ("current", "new", "ok"),
    [
        (KycStatus.PENDING, KycStatus.APPROVED, True),
        (KycStatus.PENDING, KycStatus.REJECTED, True),
        (KycStatus.APPROVED, KycStatus.EXPIRED, True),
        (KycStatus.REJECTED, KycStatus.APPROVED, False),
        (KycStatus.APPROVED, KycStatus.PENDING, False),
        (KycStatus.EXPIRED, KycStatus.APPROVED, False),
    ],
)
def test_kyc_transitions(current: KycStatus, new: KycStatus, ok: bool) -> None:
    if ok:
        check_kyc_transition(current, new)
    else:
        with pytest.raises(IllegalKycTransition):
            check_kyc_transition(current, new)


def test_officer_cannot_decide_own_record() -> None:
    with pytest.raises(SelfReview):
        validate_decision(KycDecision(DecisionKind.APPROVE, officer_id="u1"), subject_user_id="u1")


@pytest.mark.parametrize("reason", [None, "", "   "])
def test_reject_needs_a_reason(reason: str | None) -> None:
    with pytest.raises(InvalidDecision):
        validate_decision(KycDecision(DecisionKind.REJECT, officer_id="o", reason=reason), subject_user_id="u")
    validate_decision(KycDecision(DecisionKind.REJECT, officer_id="o", reason="blurred scan"), subject_user_id="u")


@pytest.mark.parametrize(("number", "masked"), [("123456789", "******789"), ("1234", "****"), ("AB12345", "****345")])
def test_document_numbers_are_masked(number: str, masked: str) -> None:
    assert mask_document_number(number) == masked


def test_sanctions_names_match_after_normalisation() -> None:
    lst = SanctionsList.from_rows([("name", "Doe, Jöhn"), ("address", "GABC")])
    assert normalise_name("  JOHN   doe ") == "doe john"
    assert lst.hits(full_name="john DOE") == ["name"]
    assert lst.hits(full_name="Johnny Doe") == []
    assert lst.hits(full_name="Jane Roe", addresses=["GABC", "GXYZ"]) == ["address:GABC"]


def _cipher(**keys: bytes) -> RecordCipher:
    encoded = {k: SecretStr(base64.b64encode(v).decode()) for k, v in keys.items()}
    return RecordCipher(encoded, active_key_id=list(keys)[-1])


def test_cipher_round_trip_and_rotation() -> None:
    old, new = os.urandom(32), os.urandom(32)
    envelope = _cipher(k1=old).encrypt({"document_number": "123456789"}, record_id="r1")
    assert "123456789" not in str(envelope)
    rotated = _cipher(k1=old, k2=new)
    assert rotated.decrypt(envelope, record_id="r1") == {"document_number": "123456789"}
    assert rotated.encrypt({"a": 1}, record_id="r1")["kid"] == "k2"


def test_cipher_rejects_tampering_and_moved_ciphertexts() -> None:
    cipher = _cipher(k1=os.urandom(32))
    envelope = cipher.encrypt({"a": 1}, record_id="r1")
    with pytest.raises(DecryptionFailed):
        cipher.decrypt(envelope, record_id="r2")
    raw = base64.b64decode(envelope["ct"])
    # XOR, so the first byte always changes (overwriting it with b"x" left it as it was 1 time in 256)
    flipped = dict(envelope, ct=base64.b64encode(bytes([raw[0] ^ 0x01]) + raw[1:]).decode())
    with pytest.raises(DecryptionFailed):
        cipher.decrypt(flipped, record_id="r1")
    with pytest.raises(DecryptionFailed):
        _cipher(other=os.urandom(32)).decrypt(envelope, record_id="r1")
