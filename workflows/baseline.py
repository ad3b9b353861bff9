"""``BaselineWorkflow``: N sequential no-op activities, nothing else.

Benchmarks run it beside a real workflow with the same number of activities on the same server,
so the ratio shows what our own code costs over Temporal's floor.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from contracts.baseline import WORKFLOW, BaselineInput, NoopInput, noop

NOOP_START_TO_CLOSE = timedelta(seconds=10)


@workflow.defn(name=WORKFLOW)
class BaselineWorkflow:
    """Benchmarks' floor: only no-op activities (see the module docstring).
"""
    @workflow.run
    async def run(self, inp: BaselineInput) -> int:
        """Run ``inp.activities`` no-op activities one after another; return how many ran."""
        done = 0
        for step in range(inp.activities):
            done += 1 if await workflow.execute_activity(
                noop, NoopInput(step), start_to_close_timeout=NOOP_START_TO_CLOSE
            ) == step else 0
        return done
