"""Horizontal scale: two worker processes and two API processes against one Temporal server and one
PostgreSQL database share the work, and nothing happens twice: one mint per deposit (Soroban
sandbox), one payout per withdrawal (Esplora sandbox), each chain event stored once, one event
monitor and one of each schedule, and ``custody ledger check`` passes."""

from __future__ import annotations

import asyncio
import random
from collections import Counter

import pytest

from cli.soak_checks import operations, run_checks, settle
from cli.soak_load import Clients
from contracts.workflow_ids import EVENT_MONITOR_ID
from workers.registry import WorkerDeps
from workers.schedules import scheduled_workflows

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


async def activity_starts_by_identity(temporal) -> Counter:
    """How many activity attempts each worker identity (``pid@host``) started, over every workflow."""
    starts: Counter = Counter()
    async for execution in temporal.list_workflows():
        history = await temporal.get_workflow_handle(execution.id, run_id=execution.run_id).fetch_history()
        for event in history.events:
            if event.HasField("activity_task_started_event_attributes"):
                starts[event.activity_task_started_event_attributes.identity] += 1
    return starts


async def test_two_workers_and_two_apis_share_deposits_and_withdrawals_exactly_once(two_by_two) -> None:
    stack = two_by_two
    deps = await WorkerDeps.build(stack.settings)
    clients = Clients(stack.api_urls, stack.esplora_url, stack.soroban_url, deps, random.Random(15))
    try:
        users = [await clients.new_user() for _ in range(4)]
        await asyncio.gather(*(clients.deposit(u, 100_000 + 10_000 * i) for i, u in enumerate(users * 3)))
        assert await settle(deps, timeout_seconds=180, say=print) == []
        await asyncio.gather(*(clients.withdraw(u, 50_000 + 1_000 * i) for i, u in enumerate(users)))
        assert await settle(deps, timeout_seconds=180, say=print) == []
        ops = await operations(deps)
        assert Counter((o.operation_type, o.status) for o in ops) == {("deposit", "completed"): 12,
                                                                      ("withdrawal", "completed"): 4}

        results = await run_checks(stack.settings, deps, stack.esplora_url, stack.temporal)
        assert results.ok, results.problems
        assert "custody ledger check" in results.checked

        # Both APIs answered the clients' requests …
        assert set(clients.stats.served) == set(stack.api_urls) and min(clients.stats.served.values()) >= 10
        # … and both workers ran activities (a worker's identity is pid@host: its process).
        starts = await activity_starts_by_identity(stack.temporal)
        pids = {int(identity.split("@", 1)[0]) for identity in starts}
        assert pids == {w.proc.pid for w in stack.workers}, starts
        assert min(starts.values()) >= 5, starts

        # One event monitor, one of each schedule, though both workers ensured them at start.
        running = [e async for e in stack.temporal.list_workflows(
            f"WorkflowId = '{EVENT_MONITOR_ID}' AND ExecutionStatus = 'Running'")]
        assert len(running) == 1
        schedules = [s.id async for s in await stack.temporal.list_schedules()]
        assert sorted(schedules) == sorted(s.schedule_id for s in scheduled_workflows(stack.settings))
    finally:
        await clients.close()
        await deps.close()
