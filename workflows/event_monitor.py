"""``EventMonitorWorkflow``: the singleton (id ``event-monitor``) that follows the four contracts'
events forever, one page per activity, continuing as new every ``pages_per_run`` pages.

The cursor lives in Postgres (``event_cursors``), so continue-as-new carries only the input and
a restarted or reset monitor resumes exactly where the last committed page ended. The worker
starts it at start-up with id-conflict policy USE_EXISTING (idempotent across replicas).
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from contracts.event_monitor import WORKFLOW, EventMonitorInput, PollEventsInput, poll_contract_events

POLL_START_TO_CLOSE = timedelta(seconds=60)
# Never gives up: a monitor behind retention keeps alerting until an operator backfills.
POLL_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=5))


@workflow.defn(name=WORKFLOW)
class EventMonitorWorkflow:
    """Query ``get_progress`` returns ``{"pages", "events", "applied", "lag_ledgers"}`` for this run."""

    def __init__(self) -> None:
        self.progress = {"pages": 0, "events": 0, "applied": 0, "lag_ledgers": 0}

    @workflow.query
    def get_progress(self) -> dict[str, int]:
        """Pages, events, applied events and the lag in ledgers of this run."""
        return dict(self.progress)

    @workflow.run
    async def run(self, inp: EventMonitorInput) -> None:
        """Follow the events page by page, then continue as new."""
        poll = PollEventsInput(inp.name, inp.page_size, inp.start_ledger)
        while self.progress["pages"] < inp.pages_per_run and not workflow.info().is_continue_as_new_suggested():
            # One page: store new events once, apply non-engine ones, advance the cursor.
            result = await workflow.execute_activity(
                poll_contract_events, poll,
                start_to_close_timeout=POLL_START_TO_CLOSE, retry_policy=POLL_RETRY,
            )
            self.progress["pages"] += 1
            self.progress["events"] += result.new_events
            self.progress["applied"] += result.applied
            self.progress["lag_ledgers"] = result.lag_ledgers
            if result.caught_up:
                await workflow.sleep(timedelta(seconds=inp.poll_seconds))
        await workflow.wait_condition(workflow.all_handlers_finished)
        workflow.continue_as_new(inp)
