"""Deposits the policy refuses for a reason no user action fixes wait in ``needs_attention``; an
operator retries or cancels them through the API (audited with the reason). (Refusals the user can
fix wait on the user instead: tests/deposits/test_user_waits.py.)"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from db.models import AuditLog
from domain.roles import Role
from tests.deposits.conftest import post_deposit

pytestmark = pytest.mark.usefixtures("custody_worker", "minting_enabled")


async def _steer(api_client, operator, op_id, action: str, reason: str):
    return await api_client.post(
        f"/api/admin/operations/{op_id}/{action}", json={"reason": reason}, headers=operator.headers
    )


async def test_retry_after_the_on_chain_registration_lands_completes_the_deposit(
    api_client, make_depositor, make_user, btc, wait_for, worker_deps, sessions
) -> None:
    depositor = await make_depositor(on_chain=False)  # approved in Postgres, not yet on kyc_registry
    operator = await make_user(Role.OPERATOR)
    txid, vout = await btc.pay(depositor.deposit_address, 33_000)
    op_id = (await post_deposit(api_client, depositor, txid, vout, 33_000)).json()["operation_id"]
    await btc.mine(1)
    parked = await wait_for(op_id, stage="needs_attention")
    assert parked.error == "compliance_check_failed"

    await worker_deps.contracts.kyc.register_customer(depositor.stellar_address, 2, "CH", 4_102_444_800)
    response = await _steer(api_client, operator, op_id, "retry", "registration confirmed on chain")

    assert response.status_code == 202, response.text
    done = await wait_for(op_id, status="completed")
    assert done.error is None
    assert await worker_deps.contracts.token.balance(depositor.stellar_address) == 33_000
    async with sessions() as session:
        actions = set((await session.execute(
            select(AuditLog.action).where(AuditLog.resource_id == op_id)
        )).scalars())
    assert {"operation.retry_requested", "deposit.retried", "deposit.credited"} <= actions


async def test_cancel_of_a_deposit_no_tier_allows_ends_it_cancelled(
    api_client, make_depositor, make_user, btc, wait_for, worker_deps
) -> None:
    depositor = await make_depositor(tier=4)
    operator = await make_user(Role.OPERATOR)
    amount = 1_000_000_001  # one sat above the largest single deposit of any tier (tier 4: 10 BTC)
    txid, vout = await btc.pay(depositor.deposit_address, amount)
    op_id = (await post_deposit(api_client, depositor, txid, vout, amount)).json()["operation_id"]
    await btc.mine(3)
    assert (await wait_for(op_id, stage="needs_attention")).error == "limit_exceeded"

    response = await _steer(api_client, operator, op_id, "cancel", "over the tier limit; refund arranged")

    assert response.status_code == 202
    op = await wait_for(op_id, status="cancelled")
    assert op.stage == "cancelled"
    assert await worker_deps.contracts.token.balance(depositor.stellar_address) == 0


async def test_steering_needs_an_operator_and_a_parked_operation(api_client, make_depositor, make_user, btc) -> None:
    depositor = await make_depositor()
    operator = await make_user(Role.OPERATOR)
    txid, vout = await btc.pay(depositor.deposit_address, 31_000)
    op_id = (await post_deposit(api_client, depositor, txid, vout, 31_000)).json()["operation_id"]

    as_user = await _steer(api_client, depositor.account, op_id, "retry", "please")
    not_parked = await _steer(api_client, operator, op_id, "retry", "nothing to retry")
    absent = await _steer(api_client, operator, "00000000-0000-0000-0000-000000000000", "cancel", "no such op")

    assert (as_user.status_code, not_parked.status_code, absent.status_code) == (403, 409, 404)
    assert not_parked.json()["code"] == "not_needing_attention"
    await btc.mine(1)  # let it finish
