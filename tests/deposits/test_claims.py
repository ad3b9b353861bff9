"""Duplicate, conflicting and false deposit claims through the whole stack."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

from contracts.workflow_ids import deposit_idempotency_key, deposit_workflow_id
from db.models import AuditLog, Operation
from db.queries import operations
from db.queries.operations import NewDeposit
from tests.deposits.conftest import operations_and_mints, post_deposit

pytestmark = pytest.mark.usefixtures("custody_worker", "minting_enabled")


async def test_hundred_concurrent_identical_posts_make_one_operation_and_one_mint(
    api_client, make_depositor, btc, wait_for, worker_deps, sessions
) -> None:
    depositor = await make_depositor()
    txid, vout = await btc.pay(depositor.deposit_address, 40_000)

    responses = await asyncio.gather(*(post_deposit(api_client, depositor, txid, vout, 40_000) for _ in range(100)))

    assert {r.status_code for r in responses} == {202}
    operation_ids = {r.json()["operation_id"] for r in responses}
    assert len(operation_ids) == 1
    await btc.mine(1)
    op = await wait_for(operation_ids.pop(), status="completed")
    assert await operations_and_mints(sessions, txid, op.id) == (1, 1)
    assert await worker_deps.contracts.token.balance(depositor.stellar_address) == 40_000


async def test_same_outpoint_again_after_completion_answers_the_same_operation(
    api_client, make_depositor, btc, wait_for
) -> None:
    depositor = await make_depositor()
    txid, vout = await btc.pay(depositor.deposit_address, 30_000)
    first = await post_deposit(api_client, depositor, txid, vout, 30_000)
    await btc.mine(1)
    await wait_for(first.json()["operation_id"], status="completed")

    again = await post_deposit(api_client, depositor, txid, vout, 30_000)

    assert again.status_code == 202
    assert again.json() == {**first.json(), "status": "completed"}


async def test_a_second_user_claiming_someone_elses_output_is_refused_at_the_door(
    api_client, make_depositor, btc
) -> None:
    owner, other = await make_depositor(), await make_depositor()
    txid, vout = await btc.pay(owner.deposit_address, 25_000)
    assert (await post_deposit(api_client, owner, txid, vout, 25_000)).status_code == 202

    response = await post_deposit(api_client, other, txid, vout, 25_000)

    assert response.status_code == 422
    assert response.json()["code"] == "no_output_to_address"
    assert response.json()["errors"][0]["field"] == "vout"


async def test_a_copied_txid_never_blocks_the_owners_own_claim(
    api_client, make_depositor, btc, wait_for, worker_deps, sessions
) -> None:
    """Issue 14: a claim for someone else's output held the outpoint and the owner got 409
    outpoint_claimed; now the copy is refused before it holds anything."""
    owner, copycat = await make_depositor(), await make_depositor()
    txid, vout = await btc.pay(owner.deposit_address, 22_000)  # still in the mempool

    copied = await post_deposit(api_client, copycat, txid, vout, 22_000)
    assert copied.status_code == 422 and copied.json()["code"] == "no_output_to_address"

    rightful = await post_deposit(api_client, owner, txid, vout, 22_000)
    assert rightful.status_code == 202
    await btc.mine(1)
    await wait_for(rightful.json()["operation_id"], status="completed")
    assert await worker_deps.contracts.token.balance(owner.stellar_address) == 22_000
    assert await worker_deps.contracts.token.balance(copycat.stellar_address) == 0
    async with sessions() as session:
        count = await session.scalar(select(func.count()).select_from(Operation).where(Operation.btc_tx_hash == txid))
    assert count == 1


async def test_a_false_claim_recorded_before_the_door_check_gives_way_to_the_owner(
    api_client, make_depositor, btc, wait_for, worker_deps, sessions
) -> None:
    """Rows recorded before claims were checked at the door: the owner's POST fails the false
    claim (audited) instead of answering outpoint_claimed."""
    owner, claimant = await make_depositor(), await make_depositor()
    txid, vout = await btc.pay(owner.deposit_address, 23_000)
    async with sessions() as session, session.begin():
        false_claim = await operations.insert_deposit(session, NewDeposit(
            user_id=claimant.account.id, txid=txid, vout=vout, amount_sats=23_000,
            idempotency_key=deposit_idempotency_key(txid, vout), workflow_id=deposit_workflow_id(txid, vout),
            token_address="", stellar_address=claimant.stellar_address, source="api",
        ))

    rightful = await post_deposit(api_client, owner, txid, vout, 23_000)

    assert rightful.status_code == 202, rightful.text
    async with sessions() as session:
        old = await operations.get_by_id(session, operation_id=false_claim.id)
        audit = await session.scalar(select(func.count()).select_from(AuditLog).where(
            AuditLog.action == "deposit.claim_disproved", AuditLog.resource_id == str(false_claim.id)))
    assert (old.status, old.error, old.outpoint) == ("failed", "no_output_to_address", None)
    assert audit == 1
    await btc.mine(1)
    await wait_for(rightful.json()["operation_id"], status="completed")
    assert await worker_deps.contracts.token.balance(owner.stellar_address) == 23_000


async def test_wrong_amount_is_refused_at_the_door_with_the_real_amount(
    api_client, make_depositor, btc, worker_deps, sessions
) -> None:
    depositor = await make_depositor()
    txid, vout = await btc.pay(depositor.deposit_address, 20_000)

    response = await post_deposit(api_client, depositor, txid, vout, 21_000)

    assert response.status_code == 422
    body = response.json()
    assert (body["code"], body["amount_sats"], body["errors"][0]["field"]) == ("amount_mismatch", 20_000, "btc_amount")
    async with sessions() as session:
        assert await operations.get_by_outpoint(session, outpoint=f"{txid}:{vout}") is None


async def test_unknown_txid_is_refused_and_starts_nothing(api_client, make_depositor, sessions) -> None:
    depositor = await make_depositor()
    txid = "ab" * 32

    response = await post_deposit(api_client, depositor, txid, 0, 15_000)

    assert response.status_code == 422
    assert (response.json()["code"], response.json()["errors"][0]["field"]) == ("tx_not_found", "btc_tx_hash")
    async with sessions() as session:
        assert await operations.get_by_outpoint(session, outpoint=f"{txid}:0") is None
    status = (await api_client.get("/api/kyc/status", headers=depositor.headers)).json()
    assert status["limits"]["deposit"]["daily_used_sats"] == 0


async def test_mempool_only_claims_are_capped_per_user(api_client, make_depositor, btc, settings) -> None:
    depositor = await make_depositor()
    cap = settings.deposits.max_unconfirmed_claims_per_user
    for i in range(cap):
        txid, vout = await btc.pay(depositor.deposit_address, 11_000 + i)
        assert (await post_deposit(api_client, depositor, txid, vout, 11_000 + i)).status_code == 202
    txid, vout = await btc.pay(depositor.deposit_address, 12_345)

    refused = await post_deposit(api_client, depositor, txid, vout, 12_345)

    assert refused.status_code == 409 and refused.json()["code"] == "too_many_unconfirmed_claims"
    await btc.mine(1)  # confirmed claims are never capped
    assert (await post_deposit(api_client, depositor, txid, vout, 12_345)).status_code == 202


async def _mine_until_final(btc, wait_for, op_id: str, *, blocks: int = 8):
    """Mine one block per poll cycle until the deposit is final (the reorg window counts blocks)."""
    for _ in range(blocks):
        await btc.mine(1)
        try:
            return await wait_for(op_id, status="failed", timeout=1.5)
        except AssertionError:
            continue
    return await wait_for(op_id, status="failed", timeout=5)


async def test_reorg_before_depth_never_mints(api_client, make_depositor, btc, wait_for, worker_deps) -> None:
    depositor = await make_depositor()
    amount = 6_000_000  # a large deposit (test.yaml): 3 blocks deep before the mint
    txid, vout = await btc.pay(depositor.deposit_address, amount)
    response = await post_deposit(api_client, depositor, txid, vout, amount)
    op_id = response.json()["operation_id"]
    await btc.mine(1)
    seen = await wait_for(op_id, stage="awaiting_confirmations", confirmations=1)
    assert seen.required_confirmations == 3

    await btc.reorg(1, drop_txids=[txid])  # the block is orphaned and the transaction dropped

    op = await _mine_until_final(btc, wait_for, op_id)
    assert (op.error, op.outpoint) == ("reorged", None)
    assert await worker_deps.contracts.token.balance(depositor.stellar_address) == 0


async def test_transaction_never_seen_fails_as_not_found(api_client, make_depositor, btc, wait_for) -> None:
    depositor = await make_depositor()
    txid, vout = await btc.pay(depositor.deposit_address, 35_000)
    response = await post_deposit(api_client, depositor, txid, vout, 35_000)
    await btc.reorg(1, drop_txids=[txid])  # evicted from the mempool before any block had it

    op = await _mine_until_final(btc, wait_for, response.json()["operation_id"])
    assert op.error == "tx_not_found"
