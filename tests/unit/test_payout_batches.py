"""Batches (domain/payout_batches.py): fee shares at their boundaries, one plan for many
withdrawals, and when a batch closes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.bitcoin_address import ScriptType
from domain.bitcoin_payout import InsufficientFunds, SpendableUtxo, estimate_vsize, output_vbytes
from domain.custody_script import CustodyScript, CustodyScriptKind
from domain.payout_batches import (
    BatchRecipient,
    DustShares,
    QueuedWithdrawal,
    due_batches,
    fee_shares,
    plan_batch,
    seconds_until_due,
)

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def utxo(sats: int, n: int = 0) -> SpendableUtxo:
    return SpendableUtxo(f"{n:064x}", 0, sats, 0, n)


class TestFeeShares:
    def test_each_pays_its_own_output_plus_an_equal_share_of_the_overhead(self) -> None:
        # 2 sat/vB, outputs of 31 vB (P2WPKH) and 43 vB (P2TR), fee 500: overhead 500 - 62 - 86 = 352
        assert fee_shares(fee_sats=500, fee_rate_sat_vb=2, output_vbytes_each=[31, 43]) == [62 + 176, 86 + 176]

    def test_the_remainder_goes_one_satoshi_each_to_the_first(self) -> None:
        assert fee_shares(fee_sats=13, fee_rate_sat_vb=1, output_vbytes_each=[1, 1, 1]) == [5, 4, 4]

    def test_one_withdrawal_pays_the_whole_fee(self) -> None:
        assert fee_shares(fee_sats=1_410, fee_rate_sat_vb=10, output_vbytes_each=[31]) == [1_410]

    @pytest.mark.parametrize("outputs", [[], [100]])
    def test_refused_without_outputs_or_below_their_own_size(self, outputs: list[int]) -> None:
        with pytest.raises(ValueError):
            fee_shares(fee_sats=50, fee_rate_sat_vb=1, output_vbytes_each=outputs)

    @given(rate=st.integers(1, 500), vbytes=st.lists(st.sampled_from([31, 32, 34, 43]), min_size=1, max_size=250),
           extra=st.integers(0, 100_000))
    def test_shares_add_up_to_the_fee_exactly_and_differ_only_by_output_size(self, rate, vbytes, extra) -> None:
        fee = rate * sum(vbytes) + extra
        shares = fee_shares(fee_sats=fee, fee_rate_sat_vb=rate, output_vbytes_each=vbytes)
        assert sum(shares) == fee
        overhead = [s - rate * vb for s, vb in zip(shares, vbytes, strict=True)]
        assert max(overhead) - min(overhead) <= 1


class TestPlanBatch:
    def test_one_transaction_pays_every_recipient_net_of_its_share_and_custody_spends_the_total(self) -> None:
        recipients = [BatchRecipient(f"w{i}", ScriptType.P2WPKH, 50_000 + i) for i in range(10)]
        plan = plan_batch(recipients=recipients, fee_rate_sat_vb=5, utxos=[utxo(400_000, 1), utxo(300_000, 2)])
        assert plan.vsize_vb == estimate_vsize(2, [ScriptType.P2WPKH] * 11)
        assert plan.fee_sats == 5 * plan.vsize_vb == sum(o.fee_share_sats for o in plan.outputs)
        assert plan.amount_sats == sum(r.amount_sats for r in recipients)
        assert plan.input_sats == plan.amount_sats + plan.change_sats  # the fee comes out of the recipients
        assert [o.receives_sats for o in plan.outputs] == [r.amount_sats - o.fee_share_sats
                                                          for r, o in zip(recipients, plan.outputs, strict=True)]

    def test_a_batch_costs_each_withdrawal_less_than_its_own_transaction(self) -> None:
        coins = [utxo(10_000_000, 1)]
        alone = plan_batch(recipients=[BatchRecipient("w", ScriptType.P2WPKH, 60_000)], fee_rate_sat_vb=10, utxos=coins)
        batch = plan_batch(recipients=[BatchRecipient(f"w{i}", ScriptType.P2WPKH, 60_000) for i in range(20)],
                           fee_rate_sat_vb=10, utxos=coins)
        assert max(o.fee_share_sats for o in batch.outputs) < alone.fee_sats / 3

    def test_multisig_inputs_and_change_weigh_what_the_descriptor_says(self) -> None:
        multisig = CustodyScript(CustodyScriptKind.P2WSH_MULTISIG, 2, 3)
        plan = plan_batch(recipients=[BatchRecipient("w", ScriptType.P2TR, 80_000)], fee_rate_sat_vb=3,
                          utxos=[utxo(200_000)], custody=multisig)
        assert plan.vsize_vb == estimate_vsize(1, [ScriptType.P2TR, ScriptType.P2WSH], input_weight_wu=418)

    def test_recipients_left_with_dust_after_their_share_are_named(self) -> None:
        recipients = [BatchRecipient("big", ScriptType.P2WPKH, 100_000), BatchRecipient("tiny", ScriptType.P2WPKH, 900)]
        with pytest.raises(DustShares) as caught:
            plan_batch(recipients=recipients, fee_rate_sat_vb=20, utxos=[utxo(500_000)])
        assert caught.value.item_ids == ("tiny",) and caught.value.code == "dust_output"

    def test_insufficient_funds(self) -> None:
        with pytest.raises(InsufficientFunds):
            plan_batch(recipients=[BatchRecipient("w", ScriptType.P2WPKH, 100_000)], fee_rate_sat_vb=1,
                       utxos=[utxo(99_999)])

    def test_an_exact_total_needs_no_change(self) -> None:
        plan = plan_batch(recipients=[BatchRecipient("w", ScriptType.P2WPKH, 100_000)], fee_rate_sat_vb=1,
                          utxos=[utxo(100_000)])
        assert plan.change_sats == 0 and plan.vsize_vb == estimate_vsize(1, [ScriptType.P2WPKH])

    def test_output_sizes(self) -> None:
        assert [output_vbytes(t) for t in (ScriptType.P2WPKH, ScriptType.P2WSH, ScriptType.P2TR, ScriptType.P2PKH)] == [
            31, 43, 43, 34]


class TestWhenABatchCloses:
    def q(self, name: str, seconds: float, asap: bool = False) -> QueuedWithdrawal:
        return QueuedWithdrawal(name, T0 + timedelta(seconds=seconds), asap)

    @pytest.mark.parametrize(("waited", "due"), [(599.9, []), (600.0, [["a", "b"]])])
    def test_a_batch_closes_when_its_oldest_withdrawal_waited_the_interval(self, waited, due) -> None:
        queued = [self.q("a", 0), self.q("b", 100)]
        now = T0 + timedelta(seconds=waited)
        assert due_batches(queued, now=now, interval_seconds=600, max_outputs=100) == due

    @pytest.mark.parametrize(("count", "batches"), [(2, 0), (3, 1), (7, 2)])
    def test_full_batches_close_at_once(self, count: int, batches: int) -> None:
        queued = [self.q(f"w{i}", i) for i in range(count)]
        got = due_batches(queued, now=T0, interval_seconds=600, max_outputs=3)
        assert [len(b) for b in got] == [3] * batches

    def test_asap_withdrawals_are_paid_alone_at_once(self) -> None:
        queued = [self.q("a", 0), self.q("now", 1, asap=True)]
        assert due_batches(queued, now=T0 + timedelta(seconds=1), interval_seconds=600, max_outputs=100) == [["now"]]

    def test_seconds_until_due(self) -> None:
        queued = [self.q("a", 0)]
        assert seconds_until_due([], now=T0, interval_seconds=60, max_outputs=10) is None
        assert seconds_until_due(queued, now=T0 + timedelta(seconds=45), interval_seconds=60, max_outputs=10) == 15
        assert seconds_until_due(queued, now=T0 + timedelta(seconds=61), interval_seconds=60, max_outputs=10) == 0
