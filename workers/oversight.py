"""Issue 9's schedules (proof of reserves, reconciliation) and the event-monitor singleton."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import TYPE_CHECKING

from temporalio.client import Client

from config.settings import Settings
from contracts.event_monitor import EventMonitorInput
from contracts.reconciliation import ReconciliationInput
from contracts.reserves import ProofInput
from contracts.starters import start_event_monitor
from contracts.workflow_ids import EVENT_MONITOR_ID, PROOF_SCHEDULE_ID, RECONCILIATION_SCHEDULE_ID
from workflows.proof_of_reserves import ProofOfReservesWorkflow
from workflows.reconciliation import ReconciliationWorkflow

if TYPE_CHECKING:
    from workers.schedules import ScheduledWorkflow

log = logging.getLogger(__name__)


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
    handle = await start_event_monitor(
        client, event_monitor_input(settings), task_queue=task_queue or settings.temporal.task_queue
    )
    log.info("event monitor running (run %s)", handle.result_run_id)
    return handle.result_run_id or ""
