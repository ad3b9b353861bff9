"""Heartbeating around long awaits, so Temporal notices a dead worker within the heartbeat timeout
(instead of the whole start-to-close timeout) and retries the activity elsewhere."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

from temporalio import activity

T = TypeVar("T")
HEARTBEAT_EVERY_SECONDS = 1.0


async def with_heartbeats(work: Awaitable[T]) -> T:
    """Await ``work`` while heartbeating every :data:`HEARTBEAT_EVERY_SECONDS`; cancel it if cancelled."""
    task = asyncio.ensure_future(work)
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=HEARTBEAT_EVERY_SECONDS)
            if done:
                return task.result()
            activity.heartbeat()
    finally:
        if not task.done():
            task.cancel()
