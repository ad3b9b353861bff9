"""The pure rules of reading a deposit output on the chain (``domain/deposit_watch.py``): output
classification, and depth and reorg tracking at their limits."""

from __future__ import annotations

import pytest

from domain.deposit_watch import DepositOutcome, DepthWatch, classify_output, read_depth
from domain.deposits import DepositFailure

Out = DepositOutcome


@pytest.mark.parametrize("found", [Out.NOT_FOUND, Out.NO_OUTPUT_TO_ADDRESS, Out.REORGED_OUT])
def test_a_transaction_that_pays_the_address_nothing_keeps_its_outcome(found: DepositOutcome) -> None:
    assert classify_output(found, 5_000, 5_000, in_block=True) == found


@pytest.mark.parametrize("found", [Out.CONFIRMED, Out.UNCONFIRMED, Out.AMOUNT_MISMATCH])
def test_only_output_vout_counts(found: DepositOutcome) -> None:
    assert classify_output(found, None, 5_000, in_block=True) == Out.NO_OUTPUT_TO_ADDRESS
    assert classify_output(found, 4_999, 5_000, in_block=True) == Out.AMOUNT_MISMATCH
    assert classify_output(found, 5_001, 5_000, in_block=True) == Out.AMOUNT_MISMATCH
    assert classify_output(found, 5_000, 5_000, in_block=True) == Out.CONFIRMED
    assert classify_output(found, 5_000, 5_000, in_block=False) == Out.UNCONFIRMED


def test_pays_address_and_present() -> None:
    assert {o for o in Out if o.pays_address} == {Out.CONFIRMED, Out.UNCONFIRMED, Out.AMOUNT_MISMATCH}
    assert {o for o in Out if o.present} == {Out.CONFIRMED, Out.UNCONFIRMED}


def _read(watch: DepthWatch, outcome: DepositOutcome, depth: int = 0, tip: int = 100, *, required: int = 3,
          window: int = 6):
    return read_depth(watch, outcome, depth, tip, required=required, reorg_window=window)


def test_depth_is_enough_at_the_required_depth_and_not_one_block_before() -> None:
    assert not _read(DepthWatch(), Out.CONFIRMED, 2).deep_enough
    reading = _read(DepthWatch(), Out.CONFIRMED, 3)
    assert reading.deep_enough and reading.depth == 3 and reading.failure is None
    assert reading.watch == DepthWatch(ever_confirmed=True, missing_since=None)


def test_the_mempool_counts_no_depth() -> None:
    reading = _read(DepthWatch(), Out.UNCONFIRMED, 5)
    assert reading.depth == 0 and not reading.deep_enough and reading.watch == DepthWatch()


@pytest.mark.parametrize(("outcome", "failure"), [
    (Out.AMOUNT_MISMATCH, DepositFailure.AMOUNT_MISMATCH), (Out.NO_OUTPUT_TO_ADDRESS, DepositFailure.NO_OUTPUT_TO_ADDRESS),
])
def test_a_wrong_claim_fails_at_once(outcome: DepositOutcome, failure: DepositFailure) -> None:
    assert _read(DepthWatch(), outcome, 10).failure == failure


def test_a_missing_output_fails_when_the_reorg_window_has_passed_and_not_one_block_before() -> None:
    first = _read(DepthWatch(), Out.NOT_FOUND, tip=100)
    assert first.failure is None and first.watch.missing_since == 100
    assert _read(first.watch, Out.NOT_FOUND, tip=105).failure is None  # 5 blocks: window - 1
    assert _read(first.watch, Out.NOT_FOUND, tip=106).failure == DepositFailure.TX_NOT_FOUND  # 6 blocks


def test_a_confirmed_output_that_leaves_the_chain_fails_reorged_past_the_window() -> None:
    seen = _read(DepthWatch(), Out.CONFIRMED, 1, tip=100).watch
    back_in_mempool = _read(seen, Out.UNCONFIRMED, tip=101)  # unconfirmed again after a block counts as off
    assert back_in_mempool.failure is None and back_in_mempool.watch.missing_since == 101
    assert _read(back_in_mempool.watch, Out.REORGED_OUT, tip=106).failure is None
    assert _read(back_in_mempool.watch, Out.REORGED_OUT, tip=107).failure == DepositFailure.REORGED


def test_an_output_that_comes_back_resets_the_window() -> None:
    missing = _read(DepthWatch(), Out.NOT_FOUND, tip=100).watch
    back = _read(missing, Out.CONFIRMED, 1, tip=105)
    assert back.failure is None and back.watch == DepthWatch(ever_confirmed=True, missing_since=None)
    again = _read(back.watch, Out.REORGED_OUT, tip=110)
    assert again.watch.missing_since == 110 and again.failure is None
