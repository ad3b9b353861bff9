"""``ReconciliationWorkflow``: three-way check, then an emergency pause when it is bad enough.

Scheduled as ``reconciliation`` (hourly by default, overlapping runs skipped). An ``emergency``
finding pauses minting and withdrawals in the engine *and* on the router, and raises an alert;
only an admin's ``POST /api/admin/system/resume`` lifts it.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.pause import PauseActivities
    from activities.reconciliation import ReconciliationActivities
    from activities.reconciliation_types import (
        ChainPauseInput,
        EmergencyPauseInput,
        ReconcileInput,
        ReconciliationInput,
        ReconciliationReport,
    )
    from domain.reserves import Severity

RECONCILE_START_TO_CLOSE = timedelta(minutes=10)
PAUSE_START_TO_CLOSE = timedelta(minutes=2)
RETRY = RetryPolicy(initial_interval=timedelta(seconds=2), maximum_interval=timedelta(minutes=1), maximum_attempts=5)
# Pausing must not give up: an emergency left half-applied is worse than a slow one.
PAUSE_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30))


@workflow.defn(name="ReconciliationWorkflow")
class ReconciliationWorkflow:
    @workflow.run
    async def run(self, inp: ReconciliationInput) -> ReconciliationReport:
        run_id = workflow.uuid4()
        # Read UTXOs, reserve_manager, supply, balances; store findings; alert.
        report = await workflow.execute_activity_method(
            ReconciliationActivities.reconcile, ReconcileInput(run_id, workflow.info().workflow_id),
            start_to_close_timeout=RECONCILE_START_TO_CLOSE, retry_policy=RETRY,
        )
        if report.max_severity != Severity.EMERGENCY or not inp.auto_pause:
            return report
        reason = f"reconciliation {run_id}: emergency discrepancy"
        # Stop the engine first (takes effect at once), then the contracts.
        await workflow.execute_activity_method(
            PauseActivities.pause_engine_for_emergency, EmergencyPauseInput(run_id, reason),
            start_to_close_timeout=PAUSE_START_TO_CLOSE, retry_policy=PAUSE_RETRY,
        )
        await workflow.execute_activity_method(
            PauseActivities.apply_chain_pause, ChainPauseInput(f"reconciliation:{run_id}", True, reason),
            start_to_close_timeout=PAUSE_START_TO_CLOSE, retry_policy=PAUSE_RETRY,
        )
        return ReconciliationReport(run_id, report.max_severity, report.findings, report.users_checked, paused=True)
