"""Pure withdrawal rules: the fee rule at its boundaries, approval, decisions, request checks."""

from __future__ import annotations

import pytest

from domain.bitcoin_address import ScriptType
from domain.bitcoin_payout import DustOutput, InsufficientFunds, SpendableUtxo, estimate_vsize
from domain.payout_batches import BatchPlan, BatchRecipient, plan_batch
from domain.withdrawals import (
    ApprovalDecision,
    BelowMinimum,
    DecisionKind,
    InvalidDecision,
    WrongToken,
    check_request,
    minimum_floor_sats,
    needs_approval,
    router_withdrawal_id,
    worst_case_fee_sats,
)

RATE = 10
WITH_CHANGE_1 = estimate_vsize(1, [ScriptType.P2WPKH, ScriptType.P2WPKH])
NO_CHANGE_1 = estimate_vsize(1, [ScriptType.P2WPKH])


def utxo(sats: int, n: int = 0) -> SpendableUtxo:
    return SpendableUtxo(f"{n:064x}", 0, sats, 0, n)


def plan(amount: int, *utxos: SpendableUtxo) -> BatchPlan:
    """The payout of one withdrawal paid on its own: production plans it as a batch of one."""
    return plan_batch(recipients=[BatchRecipient("w1", ScriptType.P2WPKH, amount)], fee_rate_sat_vb=RATE,
                      utxos=list(utxos))


def receives(p: BatchPlan) -> int:
    """What the one recipient receives (the withdrawn amount minus the whole fee)."""
    (output,) = p.outputs
    return output.receives_sats


def test_exact_input_pays_recipient_amount_minus_fee_without_change() -> None:
    p = plan(50_000, utxo(50_000))
    assert (p.change_sats, p.fee_sats, receives(p)) == (0, RATE * NO_CHANGE_1, 50_000 - RATE * NO_CHANGE_1)
    assert receives(p) + p.fee_sats == 50_000  # custody spends exactly the burned amount
    assert p.amount_sats == 50_000 and p.outputs[0].fee_share_sats == p.fee_sats


@pytest.mark.parametrize("surplus, inputs", [(546, 1), (545, 2), (1, 2)])
def test_change_below_dust_takes_another_input_instead(surplus: int, inputs: int) -> None:
    p = plan(50_000, utxo(50_000 + surplus, 1), utxo(40_000, 2))
    assert len(p.inputs) == inputs
    assert receives(p) + p.fee_sats + p.change_sats == p.input_sats
    assert receives(p) + p.fee_sats == 50_000


def test_change_at_the_dust_limit_is_kept() -> None:
    p = plan(50_000, utxo(50_546))
    assert (p.change_sats, p.fee_sats) == (546, RATE * WITH_CHANGE_1)


def test_insufficient_funds_and_dust_recipient() -> None:
    with pytest.raises(InsufficientFunds):
        plan(50_000, utxo(30_000, 1), utxo(20_100, 2))  # 100 surplus cannot become change
    with pytest.raises(DustOutput):
        plan(RATE * NO_CHANGE_1 + 545, utxo(RATE * NO_CHANGE_1 + 545))  # 546: the configured dust limit
    assert receives(plan(RATE * NO_CHANGE_1 + 546, utxo(RATE * NO_CHANGE_1 + 546))) == 546


def test_minimum_covers_worst_case_fee_plus_dust() -> None:
    assert minimum_floor_sats(100) == worst_case_fee_sats(100) + 546
    assert worst_case_fee_sats(2) * 50 == worst_case_fee_sats(100)


@pytest.mark.parametrize("amount, expected", [(4_999_999, False), (5_000_000, True), (5_000_001, True)])
def test_approval_at_or_above_threshold(amount: int, expected: bool) -> None:
    assert needs_approval(amount, 5_000_000) is expected


def test_decision_rules() -> None:
    from domain.withdrawals import validate_decision

    validate_decision(ApprovalDecision(DecisionKind.APPROVE, "op-2", "checked"), "user-1")
    with pytest.raises(InvalidDecision):
        validate_decision(ApprovalDecision(DecisionKind.APPROVE, "user-1", "mine"), "user-1")
    with pytest.raises(InvalidDecision):
        validate_decision(ApprovalDecision(DecisionKind.REJECT, "op-2", "  "), "user-1")


def test_router_withdrawal_id_is_32_bytes_and_reversible() -> None:
    import uuid

    op = uuid.uuid4()
    wid = router_withdrawal_id(op)
    assert len(wid) == 32 and uuid.UUID(bytes=wid[:16]) == op


def test_request_checks() -> None:
    check_request(amount_sats=30_000, minimum_sats=30_000, token_address=None, istsi_token="CTOKEN")
    with pytest.raises(BelowMinimum):
        check_request(amount_sats=29_999, minimum_sats=30_000, token_address="CTOKEN", istsi_token="CTOKEN")
    with pytest.raises(WrongToken):
        check_request(amount_sats=30_000, minimum_sats=30_000, token_address="COTHER", istsi_token="CTOKEN")
