"""The engine's pause switch (``system_state`` key ``pause``)."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from db.models.base import utcnow
from db.models.system_state import SystemState
from domain.pause import PauseState

PAUSE_KEY = "pause"


async def get_pause(session: AsyncSession) -> PauseState:
    """The current pause state (nothing paused when the row is absent)."""
    row = (await session.execute(select(SystemState).where(SystemState.key == PAUSE_KEY))).scalar_one_or_none()
    if row is None:
        return PauseState()
    v = row.value
    return PauseState(minting=bool(v.get("minting")), withdrawals=bool(v.get("withdrawals")), reason=v.get("reason"))


async def set_pause(session: AsyncSession, *, state: PauseState, actor_id: uuid.UUID | None) -> PauseState:
    """Replace the pause state inside the caller's transaction (the caller writes the audit row)."""
    value = {"minting": state.minting, "withdrawals": state.withdrawals, "reason": state.reason}
    stmt = insert(SystemState).values(key=PAUSE_KEY, value=value, updated_by=actor_id, updated_at=utcnow())
    await session.execute(
        stmt.on_conflict_do_update(index_elements=["key"], set_={"value": value, "updated_by": actor_id, "updated_at": utcnow()})
    )
    return state
