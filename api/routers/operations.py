"""Operations: a user's own (``/api/integration/operations``) and operator steering of parked ones
(``/api/admin/operations/{id}/retry|cancel``)."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response, status

from api.auth.callers import CachedUserAuth
from api.auth.dependencies import AUTH_RESPONSES, ROLE_RESPONSES, OperatorAuth, RequestMetaDep, UserAuth, actor_of
from api.deps import ReadConnectionDep, SessionDep, StateDep
from api.pagination import CursorPage, PageDep, build_page
from api.schemas.operations import OperationOut, OperatorActionAccepted, OperatorActionIn, StageChange
from db.queries import operations
from db.queries.operations import OperationFilter
from domain.errors import NotFound
from domain.operations import OperationStatus, OperationType
from services import operations as steering

router = APIRouter(tags=["operations"])
#: The status read alone, included first under ``/api`` (``api/app.py``): polling clients send most
#: requests and routes are tried in order, so it is matched without walking the other routers. No
#: other route matches ``/api/integration/operations/{id}``, so the order changes no answer.
status_router = APIRouter(tags=["operations"])
_NOT_FOUND = {404: {"description": "operation_not_found (absent or not yours)"}}


@router.get("/integration/operations", responses=AUTH_RESPONSES)
async def list_operations(
    principal: UserAuth,
    session: SessionDep,
    page: PageDep,
    operation_type: Annotated[OperationType | None, Query(alias="type")] = None,
    status_: Annotated[OperationStatus | None, Query(alias="status")] = None,
) -> CursorPage[OperationOut]:
    """The caller's operations, newest first, optionally of one type and status."""
    where = OperationFilter(operation_type and operation_type.value, status_ and status_.value)
    rows = await operations.list_page(session, user_id=principal.user.id, where=where, after=page.after, limit=page.limit)
    return build_page(rows, page, OperationOut.of)


@status_router.get(
    "/integration/operations/{operation_id}", response_model=OperationOut, responses={**AUTH_RESPONSES, **_NOT_FOUND}
)
async def get_operation(operation_id: uuid.UUID, caller: CachedUserAuth, reader: ReadConnectionDep) -> Response:
    """Status, stage, depth seen and required, chain hashes, amounts, timestamps and error.

    The hot path of clients that poll: the caller is checked against the process's auth cache and
    the operation, its ownership and its stage history are one query on a bare connection."""
    conn = await reader.get()
    found = await operations.get_status_for_user(conn, operation_id=operation_id, user_id=caller.user_id)
    if found is None:
        raise NotFound("no such operation", code="operation_not_found")
    row, history = found
    stages = [StageChange(stage=stage, status=status_, at=at) for stage, status_, at in history]
    out = OperationOut.of(row).model_copy(update={"stages": stages})
    # Encoded once, here: returning the model would have FastAPI validate it again and then encode it.
    return Response(out.model_dump_json(), media_type="application/json")


_ACTION_RESPONSES = {
    **ROLE_RESPONSES, **_NOT_FOUND,
    409: {"description": "not_needing_attention, workflow_not_running"},
    503: {"description": "temporal_unavailable"},
}


@router.post(
    "/admin/operations/{operation_id}/{action}", status_code=status.HTTP_202_ACCEPTED, responses=_ACTION_RESPONSES
)
async def steer_operation(
    operation_id: uuid.UUID,
    action: Literal["retry", "cancel"],
    body: OperatorActionIn,
    operator: OperatorAuth,
    session: SessionDep,
    state: StateDep,
    meta: RequestMetaDep,
) -> OperatorActionAccepted:
    """Send ``retry`` or ``cancel`` to an operation parked in ``needs_attention`` (audited with the reason)."""
    workflow_id = await steering.steer(session, state, actor_of(operator, meta), operation_id, action, body.reason)
    return OperatorActionAccepted(operation_id=operation_id, action=action, workflow_id=workflow_id)
