"""System-wide steering and state: pause or resume minting and withdrawals (engine flag, then the
router through a workflow), and the event monitor's position.

A pause change is recorded with its audit row and committed *before* ``ChainPauseWorkflow``
(id ``chain-pause-<audit row id>``) starts to make the router agree: the engine refuses new
money operations at once, whatever Temporal does. If the start fails (Temporal down) the engine
flag stays changed (503) and repeating the request records it again and starts the router's
change.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.reconciliation import CHAIN_PAUSE_WORKFLOW, ChainPauseInput
from contracts.workflow_ids import EVENT_MONITOR_ID, chain_pause_workflow_id
from db.audit import record_audit
from db.models import EventCursor
from db.queries import overview as overview_q
from db.queries.system_state import get_pause, set_pause
from domain.pause import PauseState
from services.actor import Actor
from services.state import AppState
from services.temporal_gateway import TemporalUnavailable


@dataclass(frozen=True)
class PauseChange:
    """The pause state now in force and the workflow that makes the router agree."""

    state: PauseState
    chain_workflow_id: str


async def change_pause(
    session: AsyncSession, state: AppState, actor: Actor, new: PauseState, *, action: str
) -> PauseChange:
    """Set the engine's pause flags to ``new`` (audited as ``action``) and start the router's change.

    The order leaves the safe side standing when the start fails: a pause commits the engine's
    flag first (the engine stops at once, the router follows when the request is repeated); a
    resume starts the router's change first and commits after it (a failed start changes
    nothing, so the engine never runs against a router that is still paused).

    Raises:
        TemporalUnavailable: a pause's engine flag is changed (repeat the request to change the
            router); a resume changed nothing.
    """
    old = await get_pause(session)
    await set_pause(session, state=new, actor_id=actor.user.id)
    audit = record_audit(
        session, action=action, resource_type="system_state", resource_id="pause", actor_id=actor.user.id,
        old_values=old.__dict__, new_values=new.__dict__, ip_address=actor.ip_address, user_agent=actor.user_agent,
    )
    chain_input = ChainPauseInput(key=f"admin:{audit.id}", paused=new.minting or new.withdrawals, reason=new.reason or "")
    pausing = chain_input.paused
    if pausing:
        await session.commit()  # the engine flag holds whatever happens to the start
    try:
        workflow_id = await state.temporal.start(CHAIN_PAUSE_WORKFLOW, chain_input,
                                                 workflow_id=chain_pause_workflow_id(audit.id),
                                                 task_queue=state.settings.temporal.task_queue)
    except TemporalUnavailable as exc:
        if not pausing:
            raise  # rolled back: still paused on both sides
        raise TemporalUnavailable("the engine's pause flags are changed, the router's are not: the workflow service "
                                  "is unavailable; repeat the request") from exc
    if not pausing:
        await session.commit()
    return PauseChange(new, workflow_id)


async def event_monitor_cursor(session: AsyncSession) -> EventCursor | None:
    """The Soroban event monitor's cursor (None before its first page)."""
    return await overview_q.event_cursor(session, name=EVENT_MONITOR_ID)
