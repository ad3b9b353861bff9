"""``/api/admin/system/pause`` and ``/resume``: stop or restart minting and withdrawals.

The engine flag changes in the request's transaction (with its audit row); a
``ChainPauseWorkflow`` then makes the router contract agree. Pause: admins and compliance
officers; resume: admins only (an emergency pause from reconciliation is lifted the same way).
"""

from __future__ import annotations

from fastapi import APIRouter

from activities.reconciliation_types import ChainPauseInput
from api.auth.dependencies import ROLE_RESPONSES, AdminAuth, ComplianceAuth, Principal, RequestMetaDep
from api.deps import SessionDep, StateDep
from api.schemas.reserves import PauseOut, PauseRequest
from api.workflow_start import start_workflow
from contracts.workflow_ids import chain_pause_workflow_id
from db.audit import record_audit
from db.queries.system_state import get_pause, set_pause
from domain.pause import PauseState
from workflows.chain_pause import ChainPauseWorkflow

router = APIRouter(prefix="/admin/system", tags=["admin-system"])
RESPONSES = {**ROLE_RESPONSES, 503: {"description": "temporal_unavailable (nothing changed)"}}


async def _change(
    new: PauseState, action: str, principal: Principal, session: SessionDep, state: StateDep, meta: RequestMetaDep
) -> PauseOut:
    old = await get_pause(session)
    await set_pause(session, state=new, actor_id=principal.user.id)
    audit = record_audit(
        session, action=action, resource_type="system_state", resource_id="pause", actor_id=principal.user.id,
        old_values=old.__dict__, new_values=new.__dict__, ip_address=meta.ip_address, user_agent=meta.user_agent,
    )
    paused = new.minting or new.withdrawals
    chain_input = ChainPauseInput(key=f"admin:{audit.id}", paused=paused, reason=new.reason or "")
    # Started before the commit: if Temporal is down the request fails and nothing changes.
    wf_id = await start_workflow(state, ChainPauseWorkflow.run, chain_input, workflow_id=chain_pause_workflow_id(audit.id))
    return PauseOut(minting=new.minting, withdrawals=new.withdrawals, reason=new.reason, chain_workflow_id=wf_id)


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
