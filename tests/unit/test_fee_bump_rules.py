"""Fee bumping rules (domain/fee_bumps.py) and custody script weights (domain/custody_script.py),
at their boundaries: when a bump is due, BIP 125's fee rules, the CPFP package rate, which
version won."""

from __future__ import annotations

import pytest

from domain.custody_script import P2WPKH_CUSTODY, CustodyScript, CustodyScriptKind
from domain.fee_bumps import (
    AtFeeCap,
    ChangeTooSmall,
    VersionView,
    bump_due,
    cpfp_child_fee_sats,
    reduced_change,
    replacement_fee_sats,
    target_fee_rate,
    winner,
)


@pytest.mark.parametrize(("tip", "due"), [(102, False), (103, True)])
def test_a_bump_is_due_after_the_configured_blocks(tip: int, due: bool) -> None:
    assert bump_due(broadcast_height=100, tip_height=tip, after_blocks=3) is due
    assert bump_due(broadcast_height=None, tip_height=tip, after_blocks=3) is False


class TestTargetRate:
    def test_the_estimate_within_the_cap(self) -> None:
        assert target_fee_rate(current_sat_vb=1, estimate_sat_vb=8, cap_sat_vb=100) == 8
        assert target_fee_rate(current_sat_vb=1, estimate_sat_vb=800, cap_sat_vb=100) == 100

    def test_at_least_one_sat_above_the_current_rate(self) -> None:
        assert target_fee_rate(current_sat_vb=5, estimate_sat_vb=3, cap_sat_vb=100) == 6

    def test_an_operator_rate_replaces_the_estimate(self) -> None:
        assert target_fee_rate(current_sat_vb=5, estimate_sat_vb=3, cap_sat_vb=100, requested_sat_vb=40) == 40

    @pytest.mark.parametrize("current", [100, 101])
    def test_at_the_cap_nothing_higher_is_allowed(self, current: int) -> None:
        with pytest.raises(AtFeeCap):
            target_fee_rate(current_sat_vb=current, estimate_sat_vb=200, cap_sat_vb=100)


class TestReplacementFee:
    def test_pays_the_target_rate(self) -> None:
        assert replacement_fee_sats(replaced_fee_sats=141, replaced_vsize_vb=141, new_vsize_vb=141,
                                    target_rate_sat_vb=8) == 8 * 141

    def test_pays_the_replaced_fees_plus_its_own_relay_bip125_rules_3_and_4(self) -> None:
        # target barely above: the incremental relay fee for its own size decides
        assert replacement_fee_sats(replaced_fee_sats=1_000, replaced_vsize_vb=141, new_vsize_vb=141,
                                    target_rate_sat_vb=7) == 1_000 + 141

    def test_a_strictly_higher_rate_than_the_conflict(self) -> None:
        fee = replacement_fee_sats(replaced_fee_sats=300, replaced_vsize_vb=100, new_vsize_vb=200, target_rate_sat_vb=1)
        assert fee * 100 > 300 * 200 and fee >= 300 + 200


class TestCpfp:
    def test_the_child_lifts_the_package_to_the_target(self) -> None:
        fee = cpfp_child_fee_sats(parent_fee_sats=141, parent_vsize_vb=141, child_vsize_vb=110, target_rate_sat_vb=6)
        assert fee == 6 * (141 + 110) - 141 and (141 + fee) // (141 + 110) == 6

    def test_the_child_pays_at_least_its_own_relay(self) -> None:
        assert cpfp_child_fee_sats(parent_fee_sats=10_000, parent_vsize_vb=141, child_vsize_vb=110,
                                   target_rate_sat_vb=2) == 110

    def test_a_child_replacing_a_child_obeys_bip125(self) -> None:
        fee = cpfp_child_fee_sats(parent_fee_sats=141, parent_vsize_vb=141, child_vsize_vb=110, target_rate_sat_vb=6,
                                  replaced_child_fee_sats=1_400, replaced_child_vsize_vb=110)
        assert fee == 1_400 + 110


@pytest.mark.parametrize(("change", "extra", "left"), [(10_000, 9_454, 546), (10_000, 9_455, None)])
def test_the_change_absorbs_the_extra_fee_down_to_dust(change: int, extra: int, left: int | None) -> None:
    if left is None:
        with pytest.raises(ChangeTooSmall):
            reduced_change(change_sats=change, extra_fee_sats=extra, min_change_sats=546)
    else:
        assert reduced_change(change_sats=change, extra_fee_sats=extra, min_change_sats=546) == left


class TestWinner:
    def test_nothing_confirmed(self) -> None:
        assert winner([VersionView(0, "a", None), VersionView(1, "b", None)]) is None

    def test_the_original_can_still_win_after_a_replacement(self) -> None:
        won = winner([VersionView(0, "a", 101), VersionView(1, "b", None)])
        assert (won.version, won.txid, won.depth(102)) == (0, "a", 2)

    def test_the_version_whose_child_confirmed(self) -> None:
        views = [VersionView(0, "p", 101), VersionView(1, "p", 101, "c1", None), VersionView(2, "p", 101, "c2", 102)]
        won = winner(views)
        assert (won.version, won.depth(102)) == (2, 1)

    def test_a_confirmed_parent_waits_for_its_child(self) -> None:
        assert winner([VersionView(0, "p", 101), VersionView(1, "p", 101, "c1", None)]) is None


class TestCustodyScript:
    def test_weights(self) -> None:
        assert P2WPKH_CUSTODY.input_weight_wu == 272
        assert CustodyScript(CustodyScriptKind.P2WSH_MULTISIG, 2, 3).input_weight_wu == 164 + 1 + 1 + 146 + 1 + 105
        assert CustodyScript(CustodyScriptKind.P2WSH_MULTISIG, 3, 5).witness_script_bytes == 173

    @pytest.mark.parametrize(("m", "n"), [(0, 3), (4, 3), (1, 16)])
    def test_impossible_quorums(self, m: int, n: int) -> None:
        with pytest.raises(ValueError):
            CustodyScript(CustodyScriptKind.P2WSH_MULTISIG, m, n)
