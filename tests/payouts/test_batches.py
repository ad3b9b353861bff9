"""Issue 17, batched withdrawals: 50 withdrawals approved within one batch window leave in one
transaction, each recipient receives its amount minus its fee share (own output's size plus an
equal share of the overhead), the books balance, and SIGKILLing the worker at each payout stage
changes nothing in the outcome: every recipient is paid exactly once."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest
from sqlalchemy import func, select

from cli.ledger import run_check
from db import ledger
from db.books_check import check_books
from db.models import Payout, PayoutItem, PayoutVersion
from domain.bitcoin_address import parse_address
from domain.bitcoin_payout import output_vbytes
from domain.payout_batches import fee_shares
from tests.books.test_books_acceptance import foreign_address
from tests.fixtures.stack import Stack, eventually
from tests.payouts.conftest import BATCH_OUTPUTS

pytestmark = pytest.mark.slow


async def _items(stack: Stack, op_ids: list[str]) -> list[PayoutItem]:
    async with stack.sessions() as session:
        return list((await session.execute(select(PayoutItem).where(
            PayoutItem.operation_id.in_([uuid.UUID(o) for o in op_ids])))).scalars())


async def _payouts(stack: Stack, op_ids: list[str]) -> list[Payout]:
    ids = {i.payout_id for i in await _items(stack, op_ids) if i.payout_id}
    async with stack.sessions() as session:
        return list((await session.execute(select(Payout).where(Payout.id.in_(ids)))).scalars()) if ids else []


async def _stages(stack: Stack, op_ids: list[str]) -> set[str]:
    return {(await stack.operation(o)).stage or "" for o in op_ids}


async def test_fifty_withdrawals_in_one_window_leave_in_one_transaction_whatever_the_worker_kills(
    payout_stack: Stack, running_worker,
) -> None:
    stack, worker = payout_stack, running_worker
    alice = await stack.person()
    amounts = [40_000 + 100 * i for i in range(BATCH_OUTPUTS)]
    await stack.deposit(alice, sum(amounts) + 200_000)
    await stack.approve_router(alice, sum(amounts))
    recipients = [foreign_address() for _ in amounts]
    answers = await asyncio.gather(*(stack.withdraw(alice, a, to) for a, to in zip(amounts, recipients, strict=True)))
    assert [r.status_code for r in answers] == [202] * BATCH_OUTPUTS, [r.text for r in answers if r.status_code != 202]
    op_ids = [r.json()["operation_id"] for r in answers]

    # 1. killed while withdrawals wait in the queue for the batch to fill
    await eventually(lambda: _queued_some(stack, op_ids), timeout=120, what=lambda: "withdrawals queued")
    await worker.kill()
    await worker.start()
    # 2. killed as soon as the batch is stored (signed), before or just after its broadcast
    await eventually(lambda: _payouts(stack, op_ids), timeout=180, what=lambda: "the batch is cut")
    await worker.kill()
    await worker.start()
    # 3. killed while the payout waits for its depth
    await eventually(lambda: _broadcast(stack, op_ids), timeout=60, what=lambda: "the batch is broadcast")
    await worker.kill()
    await stack.mine(1)
    await worker.start()
    # 4. killed while the withdrawals settle (router completion, then the books)
    await stack.mine(stack.settings.withdrawals.payout_confirmations - 1)
    await eventually(lambda: _settling(stack, op_ids), timeout=60, what=lambda: "withdrawals settling")
    await worker.kill()
    await worker.start()

    async def all_completed() -> bool:
        return all([(await stack.operation(o)).status == "completed" for o in op_ids])

    await eventually(all_completed, timeout=240, interval=0.5, what=lambda: "every withdrawal completes")

    (payout,) = await _payouts(stack, op_ids)  # one payout for all fifty
    async with stack.sessions() as session:
        versions = list((await session.execute(select(PayoutVersion).where(PayoutVersion.payout_id == payout.id))).scalars())
        count = (await session.execute(select(func.count()).select_from(PayoutItem).where(
            PayoutItem.payout_id == payout.id))).scalar_one()
    assert count == BATCH_OUTPUTS and [v.version for v in versions] == [0] and payout.status == "confirmed"
    async with httpx.AsyncClient(base_url=stack.esplora_url) as http:
        tx = (await http.get(f"/tx/{payout.txid}")).json()
        paid = {to: [t["txid"] for t in (await http.get(f"/address/{to}/txs")).json()] for to in recipients}
    assert all(txids == [payout.txid] for txids in paid.values())  # each recipient paid once, by the batch
    assert len(tx["vout"]) == BATCH_OUTPUTS + 1 and tx["fee"] == payout.fee_sats
    # Each recipient receives its amount minus its share; the shares follow the rule and add up to the fee.
    items = {str(i.operation_id): i for i in await _items(stack, op_ids)}
    by_vout = sorted(items.values(), key=lambda i: i.vout)
    expected = fee_shares(fee_sats=payout.fee_sats, fee_rate_sat_vb=payout.fee_rate_sat_vb, output_vbytes_each=[
        output_vbytes(parse_address(i.recipient_address, "regtest").script_type) for i in by_vout])
    assert [i.fee_share_sats for i in by_vout] == expected and sum(expected) == tx["fee"]
    for op_id, amount, to in zip(op_ids, amounts, recipients, strict=True):
        item = items[op_id]
        out = tx["vout"][item.vout]
        assert (out["scriptpubkey_address"], out["value"]) == (to, amount - item.fee_share_sats)
    # The books: each withdrawal posted its own payout once; every invariant holds.
    async with stack.sessions() as session:
        for op_id in op_ids:
            ids = sorted(t.transfer.id for t in await ledger.transfers_of_operation(session, uuid.UUID(op_id)))
            pending = [f"withdrawal-hold:{op_id}", f"payout:{op_id}", f"payout-fee:{op_id}", f"fee-charge:{op_id}"]
            assert ids == sorted([*pending, *(f"{p}:post" for p in pending), f"withdrawal-burn:{op_id}"]), ids
    async with stack.sessions() as session:
        await session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        assert (await check_books(session)).ok
    report = await run_check(stack.settings)
    assert report.ok, report.problems
    await stack.assert_quiet("after the batch of fifty")


async def _queued_some(stack: Stack, op_ids: list[str]) -> bool:
    return any(i.status == "queued" for i in await _items(stack, op_ids))


async def _broadcast(stack: Stack, op_ids: list[str]) -> bool:
    return any(p.status == "broadcast" for p in await _payouts(stack, op_ids))


async def _settling(stack: Stack, op_ids: list[str]) -> bool:
    return bool(await _stages(stack, op_ids) & {"settling", "completed"})
