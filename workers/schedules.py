"""Temporal schedules the engine runs (reconciliation, proof of reserves, deposit detection …).

Each capability appends a :class:`ScheduledWorkflow` to :func:`scheduled_workflows`; the worker
calls :func:`ensure_schedules` at start, which creates missing schedules and updates changed ones
(idempotent, so every worker replica may call it). Schedules need the dev server or a cluster:
the time-skipping test server has none (docs/DESIGN.md §8).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
)

from config.settings import Settings
from contracts.deposits import ScanInput
from contracts.workflow_ids import DEPOSIT_SCAN_SCHEDULE_ID
from workers.oversight import oversight_schedules
from workflows.deposit_scan import DepositScanWorkflow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ScheduledWorkflow:
    """One schedule: ``workflow`` (a ``@workflow.run`` method) started with ``arg`` every ``every``."""

    schedule_id: str
    workflow: Callable[..., Any]
    arg: Any
    every: timedelta
    overlap: ScheduleOverlapPolicy = ScheduleOverlapPolicy.SKIP
    #: Missed runs older than this are dropped, so an outage does not replay a burst.
    catchup_window: timedelta = timedelta(minutes=10)
    memo: dict[str, Any] = field(default_factory=dict)


def scheduled_workflows(settings: Settings) -> list[ScheduledWorkflow]:
    """Every schedule of the engine (capabilities add theirs here)."""
    return [
        ScheduledWorkflow(
            DEPOSIT_SCAN_SCHEDULE_ID, DepositScanWorkflow.run, ScanInput(),
            every=timedelta(seconds=settings.deposits.detection_interval_seconds),
        ),
        *oversight_schedules(settings),
    ]


def _schedule(item: ScheduledWorkflow, task_queue: str) -> Schedule:
    return Schedule(
        action=ScheduleActionStartWorkflow(item.workflow, item.arg, id=item.schedule_id, task_queue=task_queue),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=item.every)]),
        policy=SchedulePolicy(overlap=item.overlap, catchup_window=item.catchup_window),
    )


async def ensure_schedules(client: Client, settings: Settings, items: list[ScheduledWorkflow] | None = None) -> None:
    """Create or update each schedule so it matches the code and configuration."""
    for item in items if items is not None else scheduled_workflows(settings):
        schedule = _schedule(item, settings.temporal.task_queue)
        try:
            await client.create_schedule(item.schedule_id, schedule, memo=item.memo or None)
            log.info("created schedule %s (every %s)", item.schedule_id, item.every)
        except ScheduleAlreadyRunningError:

            def _replace(_: ScheduleUpdateInput, new: Schedule = schedule) -> ScheduleUpdate:
                return ScheduleUpdate(schedule=new)

            await client.get_schedule_handle(item.schedule_id).update(_replace)
            log.info("updated schedule %s (every %s)", item.schedule_id, item.every)
