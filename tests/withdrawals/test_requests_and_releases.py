"""The request endpoint's refusals, and every way a withdrawal ends before the burn (reject,
user cancel, approval timeout): the hold is released and nothing is burned."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import delete
from temporalio.worker import Worker

from activities.withdrawals import WithdrawalActivities
from db.models import SystemState
from db.queries.system_state import set_pause
from domain.pause import PauseState
from domain.roles import Role
from tests.withdrawals.conftest import recipient_address
from workflows.withdrawal import WithdrawalWorkflow

URL = "/api/integration/token-withdrawal"
ABOVE = 5_000_000


def body(amount: int, address: str | None = None) -> dict:
    return {"token_amount": amount, "btc_address": address or recipient_address()}


@pytest.mark.usefixtures("custody_worker", "system_unpaused")
async def test_refusals(api_client, holder, chain, sessions, settings) -> None:
    assert (await api_client.post(URL, json=body(50_000))).status_code == 401
    h = await holder([100_000], allowance=40_000)
    cases = [
        (body(29_999), 422, "amount_below_minimum"),
        ({**body(50_000), "token_address": settings.soroban.contracts.kyc_registry}, 422, "invalid_token_address"),
        (body(50_000, "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"), 422, "wrong_network"),
        (body(50_000, "bcrt1qinvalidchecksum0000000000000000000"), 422, None),
        (body(50_000), 409, "allowance_required"),
    ]
    for payload, status, code in cases:
        r = await api_client.post(URL, headers=h.headers, json=payload)
        assert r.status_code == status, (payload, r.text)
        if code:
            assert r.json()["code"] == code, r.text
    refused = (await api_client.post(URL, headers=h.headers, json=body(50_000))).json()
    assert (refused["spender"], refused["amount"]) == (settings.soroban.contracts.integration_router, 50_000)
    await chain.approve_router(h, 20_000_000)
    r = await api_client.post(URL, headers=h.headers, json=body(100_001))
    assert r.status_code == 409 and r.json()["code"] == "insufficient_balance"
    basic = await holder([60_000], tier=1)
    r = await api_client.post(URL, headers=basic.headers, json=body(50_000))
    assert r.status_code == 403 and r.json()["code"] == "insufficient_kyc_tier" and r.json()["required_tier"] == 2, r.text
    r = await api_client.post(URL, headers=h.headers, json=body(settings.kyc.tier_limits[2].single_sats + 1))
    assert r.status_code == 403 and r.json()["code"] == "limit_exceeded" and r.json()["limit"] == "single"
    async with sessions() as s, s.begin():
        await set_pause(s, state=PauseState(withdrawals=True, reason="drill"), actor_id=None)
    try:
        r = await api_client.post(URL, headers=h.headers, json=body(50_000))
        assert r.status_code == 503 and r.json()["code"] == "system_paused"
    finally:
        async with sessions() as s, s.begin():
            await s.execute(delete(SystemState).where(SystemState.key == "pause"))
    assert (await chain.contracts.token.balance(h.address)) == 100_000  # nothing moved


@pytest.mark.usefixtures("custody_worker", "system_unpaused")
async def test_idempotency_key_answers_the_same_operation(api_client, holder, read) -> None:
    h = await holder([ABOVE + 100_000])
    headers, payload = {**h.headers, "Idempotency-Key": "wd-1"}, body(ABOVE)  # a retry repeats its request
    first, second = await asyncio.gather(
        api_client.post(URL, headers=headers, json=payload), api_client.post(URL, headers=headers, json=payload))
    assert first.status_code == second.status_code == 202, (first.text, second.text)
    assert first.json()["operation_id"] == second.json()["operation_id"]
    assert (await read.balance(h.account.id)).reserved_balance == ABOVE  # held once
    op_id = first.json()["operation_id"]
    # The same key for another request is refused, never answered with the first one's operation.
    for other in ({**payload, "token_amount": ABOVE + 1}, {**payload, "btc_address": recipient_address()}):
        reused = await api_client.post(URL, headers=headers, json=other)
        assert (reused.status_code, reused.json()["code"]) == (409, "idempotency_key_reused"), reused.text
    assert (await read.balance(h.account.id)).reserved_balance == ABOVE  # still held once
    await read.wait(op_id, stage="awaiting_approval")
    assert (await api_client.post(f"/api/integration/operations/{op_id}/cancel", headers=h.headers)).status_code == 202
    await read.wait(op_id, status="cancelled")


async def _awaiting(api_client, holder, read):
    h = await holder([ABOVE + 50_000])
    r = await api_client.post(URL, headers=h.headers, json=body(ABOVE))
    assert r.status_code == 202, r.text
    op_id = r.json()["operation_id"]
    await read.wait(op_id, stage="awaiting_approval")
    assert (await read.balance(h.account.id)).reserved_balance == ABOVE
    return h, op_id


async def _released_without_burn(chain, read, h, op_id: str, status: str, error: str) -> None:
    op = await read.wait(op_id, status=status)
    assert (op.error, op.stellar_tx_hash) == (error, None)
    row = await read.balance(h.account.id)
    assert (row.balance, row.reserved_balance) == (ABOVE + 50_000, 0)
    assert await chain.contracts.token.balance(h.address) == ABOVE + 50_000
    assert await read.submissions(op_id) == {}  # no burn was ever signed


@pytest.mark.usefixtures("custody_worker", "system_unpaused")
async def test_rejection_releases_the_hold(api_client, holder, make_user, chain, read) -> None:
    h, op_id = await _awaiting(api_client, holder, read)
    operator = await make_user(Role.OPERATOR)
    r = await api_client.post(f"/api/admin/operations/{op_id}/reject", headers=operator.headers,
                              json={"reason": "destination on a watch list"})
    assert r.status_code == 202, r.text
    await _released_without_burn(chain, read, h, op_id, "failed", "rejected")
    assert "withdrawal.failed" in await read.audit_actions(op_id)


@pytest.mark.usefixtures("custody_worker", "system_unpaused")
async def test_user_cancel_releases_the_hold(api_client, holder, make_user, chain, read) -> None:
    h, op_id = await _awaiting(api_client, holder, read)
    stranger = await make_user(Role.USER)
    url = f"/api/integration/operations/{op_id}/cancel"
    assert (await api_client.post(url, headers=stranger.headers)).status_code == 404  # not yours
    r = await api_client.post(url, headers=h.headers, json={"reason": "wrong address"})
    assert r.status_code == 202, r.text
    await _released_without_burn(chain, read, h, op_id, "cancelled", "cancelled_by_user")
    again = await api_client.post(url, headers=h.headers)  # the same cancel again: same answer
    assert again.status_code == 202 and again.json()["stage"] == r.json()["stage"]


async def test_approval_timeout_cancels_and_releases(
    temporal_client, worker_deps, task_queue, queue_client, holder, chain, read, settings,
) -> None:
    quick = settings.model_copy(update={"withdrawals": settings.withdrawals.model_copy(
        update={"approval_timeout_seconds": 1})})
    ledger = WithdrawalActivities(settings=quick, sessions=worker_deps.sessions, contracts=worker_deps.contracts,
                                  submitter=worker_deps.submitter)
    async with Worker(temporal_client, task_queue=task_queue, workflows=[WithdrawalWorkflow], activities=ledger.all()):
        h = await holder([ABOVE + 50_000])
        r = await queue_client.post(URL, headers=h.headers, json=body(ABOVE))
        assert r.status_code == 202, r.text
        await _released_without_burn(chain, read, h, r.json()["operation_id"], "cancelled", "approval_timeout")
