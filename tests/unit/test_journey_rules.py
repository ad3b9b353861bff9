"""Pure rules of issue 14 at their boundaries (limit and limit + 1): amounts at the door, the
country list, the requested tier, the claim check, waiting on the user, sign-in lockouts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from api.schemas.deposits import DepositRequest
from api.schemas.kyc import KycSubmission
from domain.amounts import MAX_SATS, AmountNotInteger, AmountOutOfRange, check_sats
from domain.countries import country_codes, is_country, normalise_country
from domain.deposit_claims import AmountMismatch, ClaimedOutput, NoOutputToAddress, check_claim
from domain.kyc import (
    JURISDICTION_REQUIRED_FROM_TIER,
    KycTier,
    TierBelowCurrent,
    TierNotOffered,
    check_requested_tier,
    missing_for_registration,
)
from domain.limits import LimitedOperation
from domain.operations import OperationStage
from domain.sign_in_limits import LockoutPolicy, LockoutState, after_failure, lock_duration, retry_after_seconds
from domain.user_waits import (
    KycSnapshot,
    NoTierAllows,
    UsageEntry,
    WaitReason,
    deposit_wait,
    lowest_tier_for,
    usage_of,
    window_frees_at,
)
from tests.fixtures.limits import BTC, limit_policy

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
POLICY = limit_policy(highest_tier=3)


class TestAmounts:
    @pytest.mark.parametrize("value", [1, 15_000, MAX_SATS])
    def test_whole_satoshis_in_range_pass(self, value) -> None:
        assert check_sats(value) == value

    @pytest.mark.parametrize("value", [0, -1, MAX_SATS + 1, 2**63 - 1, 2**63, 2**64])
    def test_out_of_range(self, value) -> None:
        with pytest.raises(AmountOutOfRange):
            check_sats(value)

    @pytest.mark.parametrize("value", [15000.0, 1.5e4, "15000", True, None, [1]])
    def test_not_an_integer(self, value) -> None:
        with pytest.raises(AmountNotInteger):
            check_sats(value)

    def test_max_is_21_million_btc(self) -> None:
        assert MAX_SATS == 2_100_000_000_000_000

    @pytest.mark.parametrize(("raw", "code"), [
        ("15000.0", "amount_not_integer"), ('"15000"', "amount_not_integer"), ("1.5e4", "amount_not_integer"),
        ("true", "amount_not_integer"), ("0", "amount_out_of_range"), (str(2**63), "amount_out_of_range"),
        (str(2**63 - 1), "amount_out_of_range"), (str(MAX_SATS + 1), "amount_out_of_range"),
    ])
    def test_the_request_schema_names_the_code(self, raw, code) -> None:
        with pytest.raises(Exception) as refused:
            DepositRequest.model_validate_json(f'{{"btc_amount": {raw}, "btc_tx_hash": "{"a" * 64}"}}')
        assert refused.value.errors()[0]["type"] == code
        assert DepositRequest.model_validate_json(f'{{"btc_amount": {MAX_SATS}, "btc_tx_hash": "{"a" * 64}"}}')


class TestCountries:
    def test_the_shipped_list_has_every_assigned_code(self) -> None:
        codes = country_codes()
        assert len(codes) == 249
        assert {"CH", "DE", "US", "GB", "AQ", "SS"} <= codes
        assert not {"XK", "ZZ", "EU", "UK"} & codes

    def test_normalise(self) -> None:
        assert normalise_country(" ch ") == "CH" and is_country("CH") and not is_country("ch")


class TestRequestedTier:
    OFFERED = (1, 2, 3)

    def test_renewal_and_upgrade_pass(self) -> None:
        def accepted(tier: int) -> bool:
            try:
                check_requested_tier(tier, current_tier=2, offered=self.OFFERED)
            except (TierBelowCurrent, TierNotOffered):
                return False
            return True

        # From tier 2, exactly the renewal (2) and the upgrade (3) pass; any other error propagates.
        assert [tier for tier in (1, 2, 3, 4) if accepted(tier)] == [2, 3]

    def test_one_below_the_current_tier_is_refused(self) -> None:
        with pytest.raises(TierBelowCurrent):
            check_requested_tier(1, current_tier=2, offered=self.OFFERED)

    def test_a_tier_without_limits_is_refused(self) -> None:
        with pytest.raises(TierNotOffered):
            check_requested_tier(4, current_tier=0, offered=self.OFFERED)

    def test_every_tier_needs_a_jurisdiction_and_the_schema_requires_country(self) -> None:
        assert JURISDICTION_REQUIRED_FROM_TIER == KycTier.BASIC
        assert missing_for_registration(tier=1, jurisdiction=None) == ("verification_data.country",)
        assert missing_for_registration(tier=1, jurisdiction=" ") == ("verification_data.country",)
        assert missing_for_registration(tier=4, jurisdiction="CH") == ()
        schema = KycSubmission.model_json_schema()
        assert "country" in schema["$defs"]["VerificationData"]["required"]


class TestClaimCheck:
    OUTPUTS = [ClaimedOutput(0, "0014aa", 5_000), ClaimedOutput(1, "0014bb", 7_000)]

    def test_the_output_pays_the_claimant_exactly(self) -> None:
        def accepted(vout: int, claimed_sats: int) -> bool:
            try:
                check_claim(self.OUTPUTS, vout=vout, deposit_script_hex="0014bb", claimed_sats=claimed_sats)
            except (NoOutputToAddress, AmountMismatch):
                return False
            return True

        # Of every output and amount, only output 1 (the deposit script) with its exact value passes.
        claims = [(vout, sats) for vout in (0, 1, 2) for sats in (5_000, 6_999, 7_000, 7_001)]
        assert [claim for claim in claims if accepted(*claim)] == [(1, 7_000)]

    @pytest.mark.parametrize(("vout", "script"), [(0, "0014bb"), (2, "0014bb")])
    def test_another_output_or_none(self, vout, script) -> None:
        with pytest.raises(NoOutputToAddress):
            check_claim(self.OUTPUTS, vout=vout, deposit_script_hex=script, claimed_sats=7_000)

    @pytest.mark.parametrize("claimed", [6_999, 7_001])
    def test_one_sat_off_is_a_mismatch_with_the_real_amount(self, claimed) -> None:
        with pytest.raises(AmountMismatch) as refused:
            check_claim(self.OUTPUTS, vout=1, deposit_script_hex="0014bb", claimed_sats=claimed)
        assert refused.value.amount_sats == 7_000


class TestWaitingOnTheUser:
    def test_lowest_tier_for_an_amount_at_and_past_each_single_limit(self) -> None:
        assert lowest_tier_for(POLICY, LimitedOperation.DEPOSIT, BTC // 100) == 1
        assert lowest_tier_for(POLICY, LimitedOperation.DEPOSIT, BTC // 100 + 1) == 2
        assert lowest_tier_for(POLICY, LimitedOperation.WITHDRAWAL, 1) == 2
        assert lowest_tier_for(POLICY, LimitedOperation.DEPOSIT, BTC + 1) is None

    def test_no_tier_takes_the_amount_goes_to_an_operator(self) -> None:
        with pytest.raises(NoTierAllows):
            deposit_wait(POLICY, BTC + 1, KycSnapshot(tier=3), [], NOW)

    def test_allowed_deposit_goes_on(self) -> None:
        assert deposit_wait(POLICY, BTC // 100, KycSnapshot(tier=1), [], NOW) is None

    @pytest.mark.parametrize(("snapshot", "reason"), [
        (KycSnapshot(tier=0), WaitReason.KYC_REQUIRED),
        (KycSnapshot(tier=0, latest_status="rejected", latest_tier=2), WaitReason.KYC_REQUIRED),
        (KycSnapshot(tier=0, latest_status="pending", latest_tier=1), WaitReason.KYC_PENDING),
        (KycSnapshot(tier=0, latest_status="pending", latest_tier=1, latest_record_id="r1",
                     latest_missing=("verification_data.country",)), WaitReason.KYC_DATA_MISSING),
        (KycSnapshot(tier=0, latest_status="expired", latest_tier=1, latest_expires_at=NOW - timedelta(days=1)),
         WaitReason.KYC_EXPIRED),
        (KycSnapshot(tier=0, latest_status="approved", latest_tier=1, latest_expires_at=NOW - timedelta(seconds=1)),
         WaitReason.KYC_EXPIRED),
    ])
    def test_kyc_waits_say_why_and_what_to_do(self, snapshot, reason) -> None:
        wait = deposit_wait(POLICY, 50_000, snapshot, [], NOW)
        assert wait is not None and (wait.reason, wait.stage) == (reason, OperationStage.AWAITING_KYC)
        assert wait.waiting_for.endswith("the deposit continues by itself once it is approved")
        if reason in (WaitReason.KYC_REQUIRED, WaitReason.KYC_EXPIRED):
            assert "POST /api/kyc/submit" in wait.waiting_for
        if reason == WaitReason.KYC_DATA_MISSING:
            assert "PUT /api/kyc/records/r1" in wait.waiting_for

    def test_above_the_tiers_single_limit_waits_for_the_next_tier(self) -> None:
        wait = deposit_wait(POLICY, BTC // 100 + 1, KycSnapshot(tier=1), [], NOW)
        assert wait is not None and (wait.reason, wait.required_tier) == (WaitReason.KYC_TIER_TOO_LOW, 2)

    def test_a_pending_submission_for_a_lower_tier_is_not_enough(self) -> None:
        wait = deposit_wait(POLICY, BTC // 100 + 1, KycSnapshot(tier=0, latest_status="pending", latest_tier=1), [], NOW)
        assert wait is not None and wait.reason == WaitReason.KYC_TIER_TOO_LOW

    def test_daily_window_exactly_full_passes_one_sat_more_waits_until_it_frees(self) -> None:
        daily = BTC // 20
        earlier = [UsageEntry(daily - 1_000, NOW - timedelta(hours=20)), UsageEntry(500, NOW - timedelta(hours=2))]
        assert deposit_wait(POLICY, 500, KycSnapshot(tier=1), earlier, NOW) is None
        wait = deposit_wait(POLICY, 501, KycSnapshot(tier=1), earlier, NOW)
        assert wait is not None and (wait.reason, wait.stage) == (WaitReason.LIMIT_WINDOW, OperationStage.AWAITING_LIMITS)
        assert wait.frees_at == NOW + timedelta(hours=4, seconds=1)  # when the 20-hour-old entry leaves

    def test_window_frees_at_needs_just_enough_entries_to_leave(self) -> None:
        entries = [UsageEntry(100, NOW - timedelta(hours=h)) for h in (23, 22, 21)]
        assert window_frees_at(entries, window=timedelta(hours=24), limit_sats=300, amount_sats=100, now=NOW) == (
            NOW + timedelta(hours=1, seconds=1))
        assert window_frees_at(entries, window=timedelta(hours=24), limit_sats=300, amount_sats=200, now=NOW) == (
            NOW + timedelta(hours=2, seconds=1))
        assert window_frees_at(entries, window=timedelta(hours=24), limit_sats=400, amount_sats=100, now=NOW) is None

    def test_usage_of_counts_the_boundary_instant(self) -> None:
        usage = usage_of([UsageEntry(7, NOW - timedelta(hours=24)), UsageEntry(5, NOW - timedelta(days=30, seconds=1))],
                         NOW)
        assert (usage.daily_sats, usage.monthly_sats) == (7, 7)


class TestLockouts:
    POLICY = LockoutPolicy(max_failures=5, window=timedelta(minutes=15), base=timedelta(seconds=60),
                           maximum=timedelta(hours=1))

    def _fail(self, state: LockoutState, times: int, at: datetime = NOW) -> LockoutState:
        for _ in range(times):
            state = after_failure(self.POLICY, state, at)
        return state

    def test_five_failures_pass_the_sixth_locks_for_a_minute(self) -> None:
        five = self._fail(LockoutState(), 5)
        assert retry_after_seconds(five, NOW) is None and five.failures == 5
        six = self._fail(five, 1)
        assert retry_after_seconds(six, NOW) == 60 and six.lockouts == 1

    def test_each_lockout_in_a_row_doubles_up_to_the_maximum(self) -> None:
        assert [lock_duration(self.POLICY, n).total_seconds() for n in (1, 2, 3, 6, 7, 40)] == [
            60, 120, 240, 1920, 3600, 3600]
        state = self._fail(LockoutState(), 6)
        later = state.locked_until + timedelta(seconds=1)
        state = self._fail(state, 6, later)
        assert state.lockouts == 2 and retry_after_seconds(state, later) == 120

    def test_old_failures_and_old_lockouts_are_forgotten(self) -> None:
        state = self._fail(LockoutState(), 5)
        state = self._fail(state, 1, NOW + timedelta(minutes=16))
        assert state.failures == 1 and state.locked_until is None
        locked = self._fail(LockoutState(), 6)
        quiet = locked.locked_until + timedelta(minutes=16)
        again = self._fail(locked, 6, quiet)
        assert again.lockouts == 1
