"""Reserve ratio, status lines, discrepancy severity bands, non-engine event effects."""

from __future__ import annotations

import pytest

from domain.chain_events import PauseSeen, TokensBurned, TokensMinted, TokensMoved, behind_retention, effects_of
from domain.reconciliation import Check, Comparison, Item, ItemKind, assess, pauses
from domain.reserves import (
    RatioThresholds,
    ReserveStatus,
    Severity,
    discrepancy_bps,
    ratio_bps,
    reserve_status,
    severity,
)


def test_ratio_floor_and_zero_supply() -> None:
    assert ratio_bps(10_999, 10_000) == 10_999
    assert ratio_bps(1, 3) == 3333
    assert ratio_bps(5, 0) is None


@pytest.mark.parametrize(
    ("ratio", "expected"),
    [(None, ReserveStatus.OK), (10_000, ReserveStatus.OK), (9_999, ReserveStatus.BREACH)],
)
def test_a_fully_backed_token_is_healthy_by_default(ratio, expected) -> None:
    assert reserve_status(ratio) == expected


@pytest.mark.parametrize(
    ("ratio", "expected"),
    [(None, ReserveStatus.OK), (11_000, ReserveStatus.OK), (10_999, ReserveStatus.WARNING),
     (10_500, ReserveStatus.WARNING), (10_499, ReserveStatus.CRITICAL), (10_000, ReserveStatus.CRITICAL),
     (9_999, ReserveStatus.BREACH)],
)
def test_reserve_status_lines_with_an_operator_buffer(ratio, expected) -> None:
    assert reserve_status(ratio, RatioThresholds(11_000, 10_500, 10_000)) == expected


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


def test_assess_reports_only_differences_and_explains_money_in_flight() -> None:
    deposit = Item(ItemKind.DEPOSIT_IN_FLIGHT, "op-1", 350)
    findings = assess([
        Comparison(Check.UTXO_SET_VS_BOOKS, 100, 100),
        Comparison(Check.CUSTODY_VS_LIABILITIES, 10_000, 10_350, surplus_items=(deposit,)),
    ])
    assert [(f.comparison.check, f.diff_sats, f.unexplained_sats, f.severity) for f in findings] == [
        (Check.CUSTODY_VS_LIABILITIES, 350, 0, Severity.NONE)
    ]
    assert not pauses(findings)


@pytest.mark.parametrize(
    ("expected", "actual", "explained", "severity", "pause"),
    [
        (10_000, 10_350, 0, Severity.WARNING, False),     # unexplained surplus: a warning, never a pause
        (10_000, 10_350, 350, Severity.NONE, False),      # surplus explained by in-flight items
        (10_000, 9_999, 0, Severity.CRITICAL, True),      # one sat short, unexplained: critical, pauses
        (10_000, 9_901, 0, Severity.CRITICAL, True),      # 99 bps
        (10_000, 9_900, 0, Severity.EMERGENCY, True),     # 100 bps short: custody is leaking
        (10_000, 9_500, 0, Severity.EMERGENCY, True),
        (10_000, 9_500, 500, Severity.NONE, False),       # shortfall explained (a held reorged deposit)
        (0, -1, 0, Severity.EMERGENCY, True),             # short where nothing was expected
    ],
)
def test_severity_is_asymmetric(expected, actual, explained, severity, pause) -> None:
    item = (Item(ItemKind.REORG_HOLD if actual < expected else ItemKind.UNATTRIBUTED_RECEIPT, "x", explained),)
    c = Comparison(Check.CUSTODY_VS_LIABILITIES, expected, actual,
                   surplus_items=item if actual > expected else (), shortfall_items=item if actual < expected else ())
    [finding] = assess([c])
    assert (finding.severity, pauses([finding])) == (severity, pause)


def test_effects_of_non_engine_events() -> None:
    assert effects_of("istsi_token", "transfer", ["transfer", "GA", "GB"], 40) == [TokensMoved("GA", "GB", 40)]
    assert effects_of("istsi_token", "transfer", ["transfer", "GA", "GB", 7], {"amount": 3, "to_muxed_id": 7}) == [
        TokensMoved("GA", "GB", 3)
    ]
    assert effects_of("istsi_token", "burn", ["burn", "GA"], 9) == [TokensBurned("GA", 9)]
    assert effects_of("istsi_token", "mint", ["mint", "GA"], 9) == [TokensMinted("GA", 9)]
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
