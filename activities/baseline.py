"""A no-op activity: the floor against which benchmarks measure real workflows, and the worker's
own smoke test (a worker that runs it is polling, converting payloads and completing tasks)."""

from __future__ import annotations

from dataclasses import dataclass

from temporalio import activity


@dataclass(frozen=True)
class NoopInput:
    step: int


@activity.defn(name="noop")
async def noop(inp: NoopInput) -> int:
    """Return ``inp.step`` unchanged; no I/O."""
    return inp.step
