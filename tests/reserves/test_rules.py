"""Reserve ratio, status lines, discrepancy severity bands, non-engine event effects."""

from __future__ import annotations

import pytest

from domain.chain_events import BalanceDelta, PauseSeen, behind_retention, effects_of
from domain.reconciliation import Comparison, assess
from domain.reserves import ReserveStatus, Severity, discrepancy_bps, ratio_bps, reserve_status, severity


def test_ratio_floor_and_zero_supply() -> None:
    assert ratio_bps(10_999, 10_000) == 10_999
    assert ratio_bps(1, 3) == 3333
    assert ratio_bps(5, 0) is None


@pytest.mark.parametrize(
    ("ratio", "expected"),
    [(None, ReserveStatus.OK), (11_000, ReserveStatus.OK), (10_999, ReserveStatus.WARNING),
     (10_500, ReserveStatus.WARNING), (10_499, ReserveStatus.CRITICAL), (10_000, ReserveStatus.CRITICAL),
     (9_999, ReserveStatus.BREACH)],
)
def test_reserve_status_lines(ratio, expected) -> None:
    assert reserve_status(ratio) == expected


@pytest.mark.parametrize(
    ("bps", "expected"),
    [(0, Severity.NONE), (1, Severity.MINOR), (99, Severity.MINOR), (100, Severity.WARNING), (299, Severity.WARNING),
     (300, Severity.CRITICAL), (499, Severity.CRITICAL), (500, Severity.EMERGENCY)],
)
def test_severity_bands(bps, expected) -> None:
    assert severity(bps) == expected


def test_discrepancy_rounds_up_and_zero_reference_is_total() -> None:
    assert discrepancy_bps(10_000, 10_001) == 1
    assert discrepancy_bps(30_000, 30_010) == 4  # 3.33 bps rounds up
    assert discrepancy_bps(0, 1) == 10_000
    assert discrepancy_bps(7, 7) == 0


def test_assess_reports_only_differences() -> None:
    findings = assess([Comparison("a", 100, 100), Comparison("b", 10_000, 10_350)])
    assert [(f.comparison.check_name, f.diff_sats, f.diff_bps, f.severity) for f in findings] == [
        ("b", 350, 350, Severity.CRITICAL)
    ]


def test_effects_of_non_engine_events() -> None:
    assert effects_of("istsi_token", "transfer", ["transfer", "GA", "GB"], 40) == [
        BalanceDelta("GA", -40), BalanceDelta("GB", 40)
    ]
    assert effects_of("istsi_token", "transfer", ["transfer", "GA", "GB", 7], {"amount": 3, "to_muxed_id": 7}) == [
        BalanceDelta("GA", -3), BalanceDelta("GB", 3)
    ]
    assert effects_of("istsi_token", "burn", ["burn", "GA"], 9) == [BalanceDelta("GA", -9)]
    assert effects_of("istsi_token", "approve", ["approve", "GA", "GB"], [5, 100]) == []
    assert effects_of("integration_router", "pause", ["pause", "GC"], "audit") == [PauseSeen("GC", "audit")]


def test_behind_retention() -> None:
    assert not behind_retention(last_ledger=99, oldest_ledger=100)
    assert behind_retention(last_ledger=98, oldest_ledger=100)


def test_production_refuses_the_published_proof_signing_key(monkeypatch) -> None:
    import yaml

    from config.settings import CONFIG_DIR, ConfigError, load_settings

    published = yaml.safe_load((CONFIG_DIR / "test.yaml").read_text())["reserves"]["signing_key"]
    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.setenv("CUSTODY_RESERVES__SIGNING_KEY", published)
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert "config: reserves.signing_key: is a published test key" in info.value.problems
