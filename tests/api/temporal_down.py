"""Temporal out of reach for one block of a test: the app's gateway reports a refused connection
(as the real one does), then the working gateway is put back."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from services.state import AppState
from services.temporal_gateway import TemporalGateway, TemporalUnavailable


class DownGateway(TemporalGateway):
    """A gateway whose Temporal cannot be reached."""

    async def client(self):  # noqa: ANN201 (never returns)
        raise TemporalUnavailable("cannot reach Temporal: ConnectionRefusedError")


@contextmanager
def temporal_down(state: AppState) -> Iterator[None]:
    """Within the block every start, signal and update of ``state``'s API answers 503."""
    working = state.temporal
    state.temporal = DownGateway(working.settings)
    try:
        yield
    finally:
        state.temporal = working
