"""The worker process: one Temporal worker on the ``custody`` task queue.

Stops gracefully on SIGTERM/SIGINT: polling ends, running activities get
``temporal.graceful_shutdown_seconds`` to finish, then the process exits.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from datetime import timedelta

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Worker

from config.settings import Settings
from workers import registry
from workers.oversight import ensure_event_monitor
from workers.schedules import ensure_schedules
from workers.telemetry import runtime_for

log = logging.getLogger(__name__)


async def connect(settings: Settings, *, attempts: int = 30, delay_seconds: float = 1.0) -> Client:
    """Connect to Temporal with the pydantic converter, retrying while the server starts."""
    for attempt in range(1, attempts + 1):
        try:
            return await Client.connect(
                settings.temporal.address,
                namespace=settings.temporal.namespace,
                data_converter=pydantic_data_converter,
                runtime=runtime_for(settings.temporal.metrics_bind_address),
            )
        except Exception as exc:  # server still starting: connection refused / unavailable
            if attempt == attempts:
                raise
            log.warning("temporal not reachable yet (%s), retrying", type(exc).__name__)
            await asyncio.sleep(delay_seconds)
    raise AssertionError("unreachable")


def build_worker(client: Client, settings: Settings, deps: registry.WorkerDeps, task_queue: str | None = None) -> Worker:
    return Worker(
        client,
        task_queue=task_queue or settings.temporal.task_queue,
        workflows=registry.workflows(),
        activities=registry.activities(deps),
        graceful_shutdown_timeout=timedelta(seconds=settings.temporal.graceful_shutdown_seconds),
    )


async def run_worker(settings: Settings) -> None:
    """Run until SIGTERM or SIGINT, then shut down gracefully."""
    deps = await registry.WorkerDeps.build(settings)
    client = await connect(settings)
    if settings.temporal.manage_schedules:
        await ensure_schedules(client, settings)
        await ensure_event_monitor(client, settings)
    worker = build_worker(client, settings, deps)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    log.info("worker polling task queue %s at %s", settings.temporal.task_queue, settings.temporal.address)
    async with worker:
        await stop.wait()
        log.info("worker stopping; letting running activities finish")
    await deps.close()
    log.info("worker stopped")
