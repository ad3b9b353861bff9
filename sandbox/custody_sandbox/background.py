"""The one background loop a sandbox app may run while it serves (the Esplora sandbox's auto-miner,
the Soroban sandbox's ledger clock), as a Starlette lifespan."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

from starlette.applications import Starlette

Loop = Callable[[], Coroutine[Any, Any, None]]


def lifespan_running(loop: Loop | None) -> Callable[[Starlette], contextlib.AbstractAsyncContextManager[None]]:
    """A lifespan that runs ``loop()`` as a task while the app serves, and at shutdown cancels it
    and waits until it has ended; with ``None`` nothing runs in the background."""

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        task = asyncio.create_task(loop()) if loop is not None else None
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    return lifespan
