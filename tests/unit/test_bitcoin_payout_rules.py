"""Pure payout rules: fee clamping, dust limits, coin selection, size estimates, confirmations."""

from __future__ import annotations

import pytest

from domain.bitcoin_address import ScriptType
from domain.bitcoin_chain import confirmations
from domain.bitcoin_payout import (
    DUST_LIMIT_SATS,
    DustOutput,
    InsufficientFunds,
    InvalidFeeBounds,
    SpendableUtxo,
    clamp_fee_rate,
    estimate_vsize,
    plan_payout,
)

ESTIMATES = {1: 40, 3: 20, 6: 8, 144: 1}


@pytest.mark.parametrize(
    ("target", "floor", "cap", "expected"),
    [(1, 2, 100, 40), (1, 2, 30, 30), (6, 2, 100, 8), (5, 2, 100, 20), (1008, 5, 100, 5), (0, 1, 100, 40)],
)
def test_clamp_fee_rate(target: int, floor: int, cap: int, expected: int) -> None:
    assert clamp_fee_rate(ESTIMATES, target_blocks=target, floor_sat_vb=floor, cap_sat_vb=cap) == expected


def test_clamp_without_estimates_uses_floor() -> None:
    assert clamp_fee_rate({}, target_blocks=3, floor_sat_vb=4, cap_sat_vb=10) == 4


@pytest.mark.parametrize(("floor", "cap"), [(0, 10), (11, 10)])
def test_invalid_bounds(floor: int, cap: int) -> None:
    with pytest.raises(InvalidFeeBounds):
        clamp_fee_rate(ESTIMATES, target_blocks=1, floor_sat_vb=floor, cap_sat_vb=cap)


def _utxo(n: int, sats: int) -> SpendableUtxo:
    return SpendableUtxo(f"{n:064x}", 0, sats, 0, n)


@pytest.mark.parametrize(("amount", "ok"), [(DUST_LIMIT_SATS - 1, False), (DUST_LIMIT_SATS, True)])
def test_dust_limit_boundary(amount: int, ok: bool) -> None:
    utxos = [_utxo(1, 100_000)]
    if ok:
        assert plan_payout(amount_sats=amount, recipient_type=ScriptType.P2WPKH, fee_rate_sat_vb=1, utxos=utxos).amount_sats == amount
    else:
        with pytest.raises(DustOutput):
            plan_payout(amount_sats=amount, recipient_type=ScriptType.P2WPKH, fee_rate_sat_vb=1, utxos=utxos)


def test_plan_balances_and_keeps_change() -> None:
    plan = plan_payout(amount_sats=150_000, recipient_type=ScriptType.P2TR, fee_rate_sat_vb=10, utxos=[_utxo(1, 100_000), _utxo(2, 80_000), _utxo(3, 5_000)])
    assert [u.amount_sats for u in plan.inputs] == [100_000, 80_000]
    assert plan.input_sats == plan.amount_sats + plan.fee_sats + plan.change_sats
    assert plan.fee_sats == 10 * estimate_vsize(2, [ScriptType.P2TR, ScriptType.P2WPKH])


def test_change_below_dust_goes_to_fee() -> None:
    fee_no_change = 5 * estimate_vsize(1, [ScriptType.P2WPKH])
    plan = plan_payout(amount_sats=50_000, recipient_type=ScriptType.P2WPKH, fee_rate_sat_vb=5, utxos=[_utxo(1, 50_000 + fee_no_change + 300)])
    assert plan.change_sats == 0 and plan.fee_sats == fee_no_change + 300


def test_insufficient_funds() -> None:
    with pytest.raises(InsufficientFunds):
        plan_payout(amount_sats=100_000, recipient_type=ScriptType.P2WPKH, fee_rate_sat_vb=5, utxos=[_utxo(1, 100_000)])


def test_vsize_of_one_in_two_out_p2wpkh() -> None:
    assert estimate_vsize(1, [ScriptType.P2WPKH, ScriptType.P2WPKH]) == 141  # 140.5 vB, rounded up


@pytest.mark.parametrize(("tip", "height", "expected"), [(100, None, 0), (100, 100, 1), (100, 91, 10), (100, 101, 0)])
def test_confirmations(tip: int, height: int | None, expected: int) -> None:
    assert confirmations(tip, height) == expected
