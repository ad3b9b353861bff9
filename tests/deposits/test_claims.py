"""Duplicate, conflicting and false deposit claims through the whole stack."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

from db.models import ChainSubmission, Operation
from tests.deposits.conftest import post_deposit

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
    async with sessions() as session:
        count = await session.scalar(select(func.count()).select_from(Operation).where(Operation.btc_tx_hash == txid))
        mints = await session.scalar(
            select(func.count()).select_from(ChainSubmission).where(ChainSubmission.idempotency_key == f"mint:{op.id}")
        )
    assert (count, mints) == (1, 1)
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


async def test_outpoint_claimed_by_a_second_user_is_a_conflict(api_client, make_depositor, btc) -> None:
    owner, other = await make_depositor(), await make_depositor()
    txid, vout = await btc.pay(owner.deposit_address, 25_000)
    assert (await post_deposit(api_client, owner, txid, vout, 25_000)).status_code == 202

    response = await post_deposit(api_client, other, txid, vout, 25_000)

    assert response.status_code == 409
    assert response.json()["code"] == "outpoint_claimed"


async def test_wrong_amount_fails_with_a_code_and_mints_nothing(
    api_client, make_depositor, btc, wait_for, worker_deps
) -> None:
    depositor = await make_depositor()
    txid, vout = await btc.pay(depositor.deposit_address, 20_000)

    response = await post_deposit(api_client, depositor, txid, vout, 21_000)

    op = await wait_for(response.json()["operation_id"], status="failed")
    assert (op.error, op.stage, op.outpoint) == ("amount_mismatch", "failed", None)
    assert await worker_deps.contracts.token.balance(depositor.stellar_address) == 0


async def test_output_to_another_users_address_fails_and_leaves_it_to_its_owner(
    api_client, make_depositor, btc, wait_for, worker_deps
) -> None:
    owner, claimant = await make_depositor(), await make_depositor()
    txid, vout = await btc.pay(owner.deposit_address, 22_000)

    claimed = await post_deposit(api_client, claimant, txid, vout, 22_000)
    failed = await wait_for(claimed.json()["operation_id"], status="failed")
    assert failed.error == "no_output_to_address"

    # the false claim released the outpoint: its owner is credited
    rightful = await post_deposit(api_client, owner, txid, vout, 22_000)
    assert rightful.status_code == 202 and rightful.json()["operation_id"] != str(failed.id)
    await btc.mine(1)
    await wait_for(rightful.json()["operation_id"], status="completed")
    assert await worker_deps.contracts.token.balance(owner.stellar_address) == 22_000
    assert await worker_deps.contracts.token.balance(claimant.stellar_address) == 0


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
