"""Starting a workflow from a request: one place that turns "Temporal is down" into 503."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from temporalio.common import WorkflowIDConflictPolicy
from temporalio.service import RPCError

from api.errors import ApiError
from api.state import AppState
from api.temporal import TemporalUnavailable


async def start_workflow(state: AppState, run: Callable[..., Any], arg: Any, *, workflow_id: str) -> str:
    """Start ``run(arg)`` as ``workflow_id`` (an existing run with that id is reused); return the id.

    Raises:
        ApiError: 503 ``temporal_unavailable``.
    """
    try:
        client = await state.temporal.client()
        await client.start_workflow(
            run, arg, id=workflow_id, task_queue=state.settings.temporal.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        )
    except (TemporalUnavailable, RPCError) as exc:
        raise ApiError(503, "temporal_unavailable", "the workflow service is unavailable; try again") from exc
    return workflow_id
