"""Operator steering of an operation parked in ``needs_attention``: send its workflow ``retry``
or ``cancel`` (with the operator and reason), audited once the signal was delivered."""

from __future__ import annotations

import uuid
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession

from db.audit import record_audit
from db.queries import operations
from domain.errors import Conflict, NotFound
from domain.operations import OperationStage
from services.actor import Actor
from services.state import AppState
from services.temporal_gateway import WorkflowNotRunning

#: The operator signals every money workflow answers in ``needs_attention`` (docs/DESIGN.md §5).
SteeringAction = Literal["retry", "cancel"]


async def steer(
    session: AsyncSession, state: AppState, actor: Actor, operation_id: uuid.UUID, action: SteeringAction, reason: str
) -> str:
    """Signal ``action`` to the parked operation's workflow; returns the workflow's id.

    Raises:
        NotFound: ``operation_not_found`` (absent, or without a workflow).
        Conflict: ``not_needing_attention`` (at another stage), ``workflow_not_running``.
        TemporalUnavailable: nothing was sent (nor audited).
    """
    op = await operations.get_by_id(session, operation_id=operation_id)
    if op is None or not op.workflow_id:
        raise NotFound("no such operation", code="operation_not_found")
    if op.stage != OperationStage.NEEDS_ATTENTION.value:
        raise Conflict(f"the operation is at stage {op.stage}, not needs_attention", code="not_needing_attention")
    try:
        await state.temporal.signal(op.workflow_id, action, {"reason": reason, "operator_id": str(actor.user.id)})
    except WorkflowNotRunning as exc:
        raise Conflict("the operation's workflow is not running", code="workflow_not_running") from exc
    record_audit(
        session, action=f"operation.{action}_requested", resource_type="operation", resource_id=op.id,
        actor_id=actor.user.id, new_values={"reason": reason, "stage": op.stage, "error": op.error},
        ip_address=actor.ip_address, user_agent=actor.user_agent,
    )
    return op.workflow_id
