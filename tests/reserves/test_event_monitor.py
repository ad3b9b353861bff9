"""The event monitor, terminated mid-stream and started again, loses and duplicates nothing:
every transfer between two users is stored once and applied once to their balances."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select

from chains.soroban.outcomes import InvokeResult
from contracts.event_monitor import EventMonitorInput
from db.models import ChainEvent, EventCursor
from tests.fixtures.waiting import eventually
from tests.reserves.conftest import db_balance, maybe_record
from workflows.event_monitor import EventMonitorWorkflow

TRANSFER = 10


async def _transfers(worker_deps, sender, receiver, n: int) -> list[InvokeResult]:
    token = worker_deps.contracts.token
    return [await token.transfer(sender.address, receiver.address, TRANSFER, signer=sender.keypair) for _ in range(n)]


async def test_restart_mid_stream_loses_and_duplicates_nothing(
    temporal_client, engine_worker, sessions, worker_deps, chain_user
) -> None:
    alice = await chain_user(minted=1_000, db_balance=1_000)
    bob = await chain_user(minted=0, db_balance=0)
    # The transfers must land after the mint's ledger, which the monitor must not see.
    await eventually(lambda: _latest_ledger_after(worker_deps, alice.mint_ledger), timeout=20,
                     what=f"a ledger after the mint's ({alice.mint_ledger})")
    inp = EventMonitorInput(
        name=f"test-monitor-{uuid.uuid4().hex[:8]}", page_size=2, poll_seconds=0.1, pages_per_run=3,
        start_ledger=alice.mint_ledger + 1,
    )
    transfers = await _transfers(worker_deps, alice, bob, 6)
    handle = await temporal_client.start_workflow(
        EventMonitorWorkflow.run, inp, id=inp.name, task_queue=engine_worker.task_queue
    )
    await eventually(lambda: _bob_has(sessions, bob, TRANSFER), timeout=20,
                     what="the first transfer applied")  # some pages in, maybe not all
    await handle.terminate("simulated crash mid-stream")
    transfers += await _transfers(worker_deps, alice, bob, 4)
    handle = await temporal_client.start_workflow(
        EventMonitorWorkflow.run, inp, id=inp.name, task_queue=engine_worker.task_queue
    )
    await eventually(lambda: _bob_has(sessions, bob, TRANSFER * 10), timeout=20, what="all ten transfers applied")
    # A duplicate application would come from a page read again: wait until the monitor has read
    # every ledger up to the last transfer's, so any duplicate has been applied before the check.
    last_ledger = max(transfer.ledger for transfer in transfers)
    await eventually(lambda: _scanned_through(sessions, inp.name, last_ledger), timeout=20,
                     what=f"the monitor's cursor past ledger {last_ledger}")
    hashes = [transfer.tx_hash for transfer in transfers]
    assert await db_balance(sessions, bob.user_id) == TRANSFER * 10
    assert await db_balance(sessions, alice.user_id) == 1_000 - TRANSFER * 10
    async with sessions() as session:
        stored = (await session.execute(
            select(ChainEvent.tx_hash, func.count(), func.bool_and(ChainEvent.applied))
            .where(ChainEvent.tx_hash.in_(hashes), ChainEvent.name == "transfer").group_by(ChainEvent.tx_hash)
        )).all()
    assert sorted(h for h, _, _ in stored) == sorted(hashes)
    assert all(count == 1 and applied for _, count, applied in stored)
    await handle.terminate("test done")
    await _record_a_continued_run(temporal_client, inp.name)


async def _bob_has(sessions, bob, amount: int) -> bool:
    return await db_balance(sessions, bob.user_id) >= amount


async def _latest_ledger_after(worker_deps, ledger: int) -> bool:
    return (await worker_deps.contracts.token.client.server.get_latest_ledger()).sequence > ledger


async def _scanned_through(sessions, name: str, ledger: int) -> bool:
    async with sessions() as session:
        cursor = await session.get(EventCursor, name)
    return cursor is not None and cursor.last_ledger >= ledger


async def _record_a_continued_run(client, workflow_id: str) -> None:
    """A run that continued as new after 3 pages is a complete history to replay."""
    async for wf in client.list_workflows(f'WorkflowId = "{workflow_id}" AND ExecutionStatus = "ContinuedAsNew"'):
        await maybe_record(client, workflow_id, "event_monitor", run_id=wf.run_id)
        return
