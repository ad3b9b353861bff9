"""``ChainPauseWorkflow``: mirror an admin's pause or resume onto the router contract.

Started by ``POST /api/admin/system/pause|resume`` with id ``chain-pause-<audit row id>``; the
engine flag was already set in the request's transaction, this makes the contracts agree.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from contracts.reconciliation import CHAIN_PAUSE_WORKFLOW, ChainPauseInput, apply_chain_pause

START_TO_CLOSE = timedelta(minutes=2)
RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30))


@workflow.defn(name=CHAIN_PAUSE_WORKFLOW)
class ChainPauseWorkflow:
    """One router pause or resume (see the module docstring).
"""
    @workflow.run
    async def run(self, inp: ChainPauseInput) -> str | None:
        """Return the router transaction's hash (None when the router already agreed)."""
        return await workflow.execute_activity(
            apply_chain_pause, inp, start_to_close_timeout=START_TO_CLOSE, retry_policy=RETRY
        )
