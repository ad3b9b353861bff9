"""When an operator may ask a payout for a bump (``domain.payout_steering``)."""

from __future__ import annotations

import pytest

from domain.errors import Conflict, Refused
from domain.payout_steering import CONFLICTING_CONTRIBUTIONS, PayoutStatus, check_bumpable


def test_a_broadcast_payout_may_be_bumped_up_to_the_cap() -> None:
    check_bumpable("broadcast", fee_rate_sat_vb=None, fee_rate_cap_sat_vb=50)
    check_bumpable(PayoutStatus.BROADCAST, fee_rate_sat_vb=50, fee_rate_cap_sat_vb=50)
    with pytest.raises(Refused) as above:
        check_bumpable(PayoutStatus.BROADCAST, fee_rate_sat_vb=51, fee_rate_cap_sat_vb=50)
    assert (above.value.code, above.value.extra, str(above.value)) == (
        "fee_rate_above_cap", {"field": "fee_rate_sat_vb"}, "the fee cap is 50 sat/vB")


@pytest.mark.parametrize(("status", "code"), [
    ("confirmed", "payout_settled"), ("abandoned", "payout_settled"),
    ("awaiting_signature", "payout_not_broadcast"), ("signed", "payout_not_broadcast"),
])
def test_other_statuses_refuse_a_bump(status: str, code: str) -> None:
    with pytest.raises(Conflict) as refused:
        check_bumpable(status, fee_rate_sat_vb=999, fee_rate_cap_sat_vb=50)  # the status is checked first
    assert refused.value.code == code
    assert status in str(refused.value)


def test_statuses_match_the_table_constraint() -> None:
    from db.models.payout import PAYOUT_STATUSES

    assert tuple(s.value for s in PayoutStatus) == PAYOUT_STATUSES
    assert {s for s in PayoutStatus if s.is_settled} == {PayoutStatus.CONFIRMED, PayoutStatus.ABANDONED}
    assert {"duplicate_signature", "signer_already_signed"} == CONFLICTING_CONTRIBUTIONS
