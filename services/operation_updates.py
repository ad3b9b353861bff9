"""Live operation updates for WebSockets: one Postgres ``LISTEN operation_updates`` per API process.

The ``operations_notify`` trigger (migration 0006) NOTIFYs a small JSON row at commit whenever an
operation is inserted or its status, stage, depth or error changes, whoever wrote it (API,
worker, another replica). :class:`OperationUpdates` fans each one out to the queues of that
user's subscribers only. The listener reconnects after a dropped connection; updates committed
while it was down are not replayed (clients re-read ``GET /api/integration/operations``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import defaultdict
from typing import Any

import psycopg

log = logging.getLogger(__name__)
CHANNEL = "operation_updates"
QUEUE_SIZE = 256
RECONNECT_SECONDS = 1.0


class OperationUpdates:
    """Subscriber registry plus the listening task (started on first subscription)."""

    def __init__(self, libpq_url: str) -> None:
        self._url = libpq_url
        self._subscribers: dict[str, set[asyncio.Queue[dict[str, Any]]]] = defaultdict(set)
        self._task: asyncio.Task[None] | None = None
        self._listening = asyncio.Event()

    async def subscribe(self, user_id: str) -> asyncio.Queue[dict[str, Any]]:
        """A queue that receives this user's operation updates (once LISTEN is active)."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._listen(), name="operation-updates")
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(QUEUE_SIZE)
        self._subscribers[user_id].add(queue)
        await self._listening.wait()
        return queue

    def unsubscribe(self, user_id: str, queue: asyncio.Queue[dict[str, Any]]) -> None:
        subs = self._subscribers.get(user_id)
        if subs is not None:
            subs.discard(queue)
            if not subs:
                del self._subscribers[user_id]

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def dispatch(self, payload: str) -> None:
        """Hand one NOTIFY payload to its user's subscribers (a full queue drops its oldest)."""
        try:
            update = json.loads(payload)
        except ValueError:
            log.warning("ignored a malformed operation update")
            return
        for queue in self._subscribers.get(str(update.get("user_id")), ()):
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(update)

    async def _listen(self) -> None:
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(self._url, autocommit=True) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    self._listening.set()
                    async for notice in conn.notifies():
                        self.dispatch(notice.payload)
            except (psycopg.Error, OSError) as exc:
                self._listening.clear()
                log.warning("operation update listener lost its connection (%s); reconnecting", type(exc).__name__)
                await asyncio.sleep(RECONNECT_SECONDS)
