"""Stacks of real processes (:class:`cli.soak_stack.SoakStack`): a Temporal dev server of their own,
a scratch database on the test PostgreSQL server, both sandboxes, and several worker and API
processes. Their own Temporal server, because workers register fixed schedule and event-monitor
ids that must not point the session's schedules at another task queue."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from cli.soak_stack import SoakStack, StackConfig
from tests.fixtures.postgres import SERVER_URL


@pytest.fixture(scope="module")
async def two_by_two() -> AsyncIterator[SoakStack]:
    """Two worker processes and two API processes on one Temporal server and one database."""
    stack = await SoakStack(StackConfig(workers=2, apis=2, ledger_interval_seconds=0.25, mine_interval_seconds=1.0,
                                        pg_server_url=SERVER_URL)).start()
    try:
        yield stack
    finally:
        await stack.aclose()
