"""Contract of ``BaselineWorkflow`` and its no-op activity (the benchmarks' floor)."""

from __future__ import annotations

from dataclasses import dataclass

from temporalio import activity

NOOP = "noop"
WORKFLOW = "BaselineWorkflow"


@dataclass(frozen=True)
class BaselineInput:
    """How many no-op activities the baseline runs, one after another."""

    activities: int


@dataclass(frozen=True)
class NoopInput:
    """Argument of the ``noop`` activity: the step number it returns."""

    step: int


@activity.defn(name=NOOP)
async def noop(inp: NoopInput) -> int:
    """Stub of ``activities.baseline.noop``: returns ``inp.step`` unchanged."""
    raise NotImplementedError
