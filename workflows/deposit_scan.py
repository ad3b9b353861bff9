"""``DepositScanWorkflow``: one run of the scheduled deposit detection (schedule ``deposit-scan``).

The work is one heartbeating activity (Esplora and Postgres are I/O); overlapping runs are
skipped by the schedule, and a failed run is simply followed by the next one.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from contracts import deposits as t

SCAN_START_TO_CLOSE = timedelta(minutes=10)
SCAN_HEARTBEAT = timedelta(seconds=60)
SCAN_RETRY = RetryPolicy(initial_interval=timedelta(seconds=2), maximum_attempts=3)


@workflow.defn(name=t.SCAN_WORKFLOW)
class DepositScanWorkflow:
    """One scheduled detection scan (see the module docstring).
"""
    @workflow.run
    async def run(self, inp: t.ScanInput) -> t.ScanResult:
        """Scan every deposit address once; returns what was recorded and started."""
        return await workflow.execute_activity(
            t.scan_deposit_addresses, inp, start_to_close_timeout=SCAN_START_TO_CLOSE,
            heartbeat_timeout=SCAN_HEARTBEAT, retry_policy=SCAN_RETRY,
        )
