"""A no-op activity: the floor against which benchmarks measure real workflows, and the worker's
own smoke test (a worker that runs it is polling, converting payloads and completing tasks)."""

from __future__ import annotations

from temporalio import activity

from contracts import baseline as t


@activity.defn(name=t.NOOP)
async def noop(inp: t.NoopInput) -> int:
    """Return ``inp.step`` unchanged; no I/O."""
    return inp.step
