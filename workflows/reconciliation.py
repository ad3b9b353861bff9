"""``ReconciliationWorkflow``: the books against both chains, then a pause when custody is short.

Scheduled as ``reconciliation`` (hourly by default, overlapping runs skipped). An unexplained
shortfall (critical or emergency, :func:`domain.reconciliation.pauses`) pauses minting and
withdrawals in the engine *and* on the router, and raises an alert; only an admin's
``POST /api/admin/system/resume`` lifts it. Money in flight explained by the books never pauses.
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from contracts import deposits as scan
    from contracts.reconciliation import (
        WORKFLOW,
        ChainPauseInput,
        EmergencyPauseInput,
        ReconcileInput,
        ReconciliationInput,
        ReconciliationReport,
        apply_chain_pause,
        pause_engine_for_emergency,
        reconcile,
    )
    from domain.reserves import Severity

RECONCILE_START_TO_CLOSE = timedelta(minutes=10)
PAUSE_START_TO_CLOSE = timedelta(minutes=2)
SCAN_HEARTBEAT = timedelta(seconds=60)
RETRY = RetryPolicy(initial_interval=timedelta(seconds=2), maximum_interval=timedelta(minutes=1), maximum_attempts=5)
# Pausing must not give up: an emergency left half-applied is worse than a slow one.
PAUSE_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30))


@workflow.defn(name=WORKFLOW)
class ReconciliationWorkflow:
    """One reconciliation run (see the module docstring).
"""
    @workflow.run
    async def run(self, inp: ReconciliationInput) -> ReconciliationReport:
        """Scan, reconcile, and pause on an unexplained shortfall unless ``inp.auto_pause`` is off."""
        run_id = workflow.uuid4()
        if workflow.patched("scan-before-reconciliation"):
            # Bring the custody UTXO set up to the chain first, so the comparison is of now.
            await workflow.execute_activity(
                scan.scan_deposit_addresses, scan.ScanInput(grace_seconds=3600),
                start_to_close_timeout=RECONCILE_START_TO_CLOSE, heartbeat_timeout=SCAN_HEARTBEAT, retry_policy=RETRY,
            )
        # The books against Stellar and the UTXO set against the chain; store findings and items; alert.
        report = await workflow.execute_activity(
            reconcile, ReconcileInput(run_id, workflow.info().workflow_id),
            start_to_close_timeout=RECONCILE_START_TO_CLOSE, retry_policy=RETRY,
        )
        if workflow.patched("pause-on-unexplained-shortfall"):
            should_pause = report.should_pause
        else:  # runs started before the books: the emergency band alone decided
            should_pause = report.max_severity == Severity.EMERGENCY
        if not should_pause or not inp.auto_pause:
            return report
        reason = f"reconciliation {run_id}: unexplained custody shortfall ({report.max_severity})"
        # Stop the engine first (takes effect at once), then the contracts.
        await workflow.execute_activity(
            pause_engine_for_emergency, EmergencyPauseInput(run_id, reason),
            start_to_close_timeout=PAUSE_START_TO_CLOSE, retry_policy=PAUSE_RETRY,
        )
        await workflow.execute_activity(
            apply_chain_pause, ChainPauseInput(f"reconciliation:{run_id}", True, reason),
            start_to_close_timeout=PAUSE_START_TO_CLOSE, retry_policy=PAUSE_RETRY,
        )
        return dataclasses.replace(report, paused=True)
