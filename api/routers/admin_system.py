"""``/api/admin/system/pause`` and ``/resume``: stop or restart minting and withdrawals.

The engine flag changes (with its audit row) and is committed; a ``ChainPauseWorkflow`` then
makes the router contract agree (``services.system``). Pause: admins and compliance
officers; resume: admins only (an emergency pause from reconciliation is lifted the same way).
"""

from __future__ import annotations

from fastapi import APIRouter

from api.auth.dependencies import ROLE_RESPONSES, AdminAuth, ComplianceAuth, Principal, RequestMetaDep, actor_of
from api.deps import SessionDep, StateDep
from api.schemas.reserves import PauseOut, PauseRequest
from domain.pause import PauseState
from services import system

router = APIRouter(prefix="/admin/system", tags=["admin-system"])
RESPONSES = {**ROLE_RESPONSES,
             503: {"description": "temporal_unavailable (the engine flag is changed, the router's not: repeat)"}}


async def _change(
    new: PauseState, action: str, principal: Principal, session: SessionDep, state: StateDep, meta: RequestMetaDep
) -> PauseOut:
    change = await system.change_pause(session, state, actor_of(principal, meta), new, action=action)
    return PauseOut(minting=change.state.minting, withdrawals=change.state.withdrawals, reason=change.state.reason,
                    chain_workflow_id=change.chain_workflow_id)


@router.post("/pause", response_model=PauseOut, responses=RESPONSES)
async def pause(
    body: PauseRequest, auth: ComplianceAuth, session: SessionDep, state: StateDep, meta: RequestMetaDep
) -> PauseOut:
    """Pause minting and withdrawals (engine at once, router through a workflow); audited."""
    return await _change(PauseState(True, True, body.reason), "system.pause", auth, session, state, meta)


@router.post("/resume", response_model=PauseOut, responses=RESPONSES)
async def resume(auth: AdminAuth, session: SessionDep, state: StateDep, meta: RequestMetaDep) -> PauseOut:
    """Resume minting and withdrawals in the engine and on the router; audited."""
    return await _change(PauseState(), "system.resume", auth, session, state, meta)
