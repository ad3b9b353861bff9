"""Issue 9's schedules (proof of reserves, reconciliation) and the event-monitor singleton."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import TYPE_CHECKING

from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy

from activities.event_monitor_types import EventMonitorInput
from activities.reconciliation_types import ReconciliationInput
from activities.reserves_types import ProofInput
from config.settings import Settings
from workflows.event_monitor import EVENT_MONITOR_ID, EventMonitorWorkflow
from workflows.proof_of_reserves import ProofOfReservesWorkflow
from workflows.reconciliation import ReconciliationWorkflow

if TYPE_CHECKING:
    from workers.schedules import ScheduledWorkflow

log = logging.getLogger(__name__)
PROOF_SCHEDULE_ID = "reserve-proof"
RECONCILIATION_SCHEDULE_ID = "reconciliation"


def oversight_schedules(settings: Settings) -> list[ScheduledWorkflow]:
    """Proof of reserves (daily by default) and reconciliation (hourly), overlapping runs skipped."""
    from workers.schedules import ScheduledWorkflow

    r = settings.reserves
    return [
        ScheduledWorkflow(PROOF_SCHEDULE_ID, ProofOfReservesWorkflow.run, ProofInput(),
                          timedelta(seconds=r.proof_interval_seconds)),
        ScheduledWorkflow(RECONCILIATION_SCHEDULE_ID, ReconciliationWorkflow.run, ReconciliationInput(),
                          timedelta(seconds=r.reconciliation_interval_seconds)),
    ]


def event_monitor_input(settings: Settings) -> EventMonitorInput:
    r = settings.reserves
    return EventMonitorInput(
        name=EVENT_MONITOR_ID, page_size=r.event_monitor_page_size, poll_seconds=r.event_monitor_poll_seconds,
        pages_per_run=r.event_monitor_pages_per_run, start_ledger=r.event_monitor_start_ledger,
    )


async def ensure_event_monitor(client: Client, settings: Settings, *, task_queue: str | None = None) -> str:
    """Start ``event-monitor`` unless it runs already (USE_EXISTING); return its run id."""
    handle = await client.start_workflow(
        EventMonitorWorkflow.run, event_monitor_input(settings), id=EVENT_MONITOR_ID,
        task_queue=task_queue or settings.temporal.task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )
    log.info("event monitor running (run %s)", handle.result_run_id)
    return handle.result_run_id or ""
