"""Inputs and results of the event monitor (the cursor itself lives in ``event_cursors``)."""

from __future__ import annotations

from dataclasses import dataclass

from temporalio import activity

POLL_EVENTS = "poll_contract_events"
WORKFLOW = "EventMonitorWorkflow"


@dataclass(frozen=True)
class EventMonitorInput:
    """``name`` keys the cursor row (``event-monitor`` in production; tests use their own)."""

    name: str = "event-monitor"
    page_size: int = 100
    poll_seconds: float = 5.0
    pages_per_run: int = 500
    start_ledger: int = 0


@dataclass(frozen=True)
class PollEventsInput:
    """One page of the event monitor: the cursor row's ``name``, the page size and the first ledger of a new cursor."""

    name: str
    page_size: int
    start_ledger: int = 0


@dataclass(frozen=True)
class PollResult:
    """One page: events in it, how many were new, and whether the stream is caught up."""

    events: int
    new_events: int
    applied: int
    caught_up: bool
    lag_ledgers: int


# ---- activity stubs: typed call targets for ``workflow.execute_activity`` ------------------------
# The implementations live in ``activities/``; tests/workflow/test_activity_contracts.py fails when one
# drifts from its stub.


@activity.defn(name=POLL_EVENTS)
async def poll_contract_events(inp: PollEventsInput) -> PollResult:
    """One page of contract events (``EventMonitorActivities.poll_contract_events``)."""
    raise NotImplementedError
