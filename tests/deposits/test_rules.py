"""Pure deposit rules (domain/deposits.py, domain/workflow_ids.py): boundaries, no I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from contracts.workflow_ids import InvalidOutpoint, deposit_idempotency_key, deposit_workflow_id, outpoint
from domain.deposits import (
    BelowMinimum,
    Insolvent,
    SolvencyView,
    check_minimum,
    check_solvency,
    reorg_window_passed,
    required_confirmations,
    usage_without,
)
from domain.limits import Usage

TXID = "0f" * 32
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _depth(amount: int, router: int = 1) -> int:
    return required_confirmations(
        amount, min_confirmations=2, large_threshold_sats=1_000, large_confirmations=6, router_min_confirmations=router
    )


@pytest.mark.parametrize(("amount", "router", "expected"), [(999, 1, 2), (1_000, 1, 6), (999, 3, 3), (1_000, 9, 9)])
def test_required_depth_is_deeper_for_large_deposits_and_never_below_the_router(amount, router, expected) -> None:
    assert _depth(amount, router) == expected


@pytest.mark.parametrize(("amount", "ok"), [(999, False), (1_000, True)])
def test_minimum_amount_is_inclusive(amount, ok) -> None:
    if ok:
        check_minimum(amount, 1_000)
    else:
        with pytest.raises(BelowMinimum):
            check_minimum(amount, 1_000)


@pytest.mark.parametrize(("custody", "supply", "pending", "reorged", "ok"), [
    (110, 100, 0, 0, True),   # exactly covered, the deposit's own 10 sats included
    (109, 100, 0, 0, False),  # one sat short
    (160, 100, 50, 0, True),  # pending withdrawals count against custody
    (159, 100, 50, 0, False),
    (10, 0, 0, 0, True),      # first deposit ever
    (100, 100, 0, 10, True),  # a held reorged deposit is an explained shortfall
    (99, 100, 0, 10, False),
])
def test_solvency_guard_boundaries(custody, supply, pending, reorged, ok) -> None:
    view = SolvencyView(custody_sats=custody, supply_units=supply, pending_withdrawals_sats=pending,
                        reorged_sats=reorged)
    if ok:
        check_solvency(view, 10)
    else:
        with pytest.raises(Insolvent):
            check_solvency(view, 10)


def test_reorg_window_counts_blocks_since_the_deposit_went_missing() -> None:
    assert not reorg_window_passed(tip_height=101, missing_since_tip=100, window_blocks=2)
    assert reorg_window_passed(tip_height=102, missing_since_tip=100, window_blocks=2)


def test_a_live_deposit_does_not_count_against_its_own_limits() -> None:
    usage = Usage(daily_sats=500, monthly_sats=900)
    assert usage_without(usage, amount_sats=200, created_at=NOW, now=NOW) == Usage(300, 700)
    older = NOW - timedelta(days=2)  # outside the 24 h window, inside the 30-day one
    assert usage_without(usage, amount_sats=200, created_at=older, now=NOW) == Usage(500, 700)


def test_ids_are_keyed_by_outpoint() -> None:
    assert deposit_workflow_id(TXID, 3) == f"deposit-{TXID}:3"
    assert deposit_idempotency_key(TXID, 3) == f"deposit:{TXID}:3"
    assert deposit_workflow_id(TXID, 3) != deposit_workflow_id(TXID, 4)


@pytest.mark.parametrize(("txid", "vout"), [("0F" * 32, 0), ("0f" * 31, 0), (TXID, -1), (TXID, 2**32)])
def test_malformed_outpoints_are_refused(txid, vout) -> None:
    with pytest.raises(InvalidOutpoint):
        outpoint(txid, vout)
