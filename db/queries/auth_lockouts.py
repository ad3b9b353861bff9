"""Reading and writing the per-login-name lockout state (``auth_lockouts``), by intent.

Times are the database's (``now()``), so API replicas with skewed clocks agree.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import AuthLockout
from domain.sign_in_limits import LockoutState


async def db_now(session: AsyncSession) -> datetime:
    return (await session.execute(select(func.now()))).scalar_one()


async def get_state(session: AsyncSession, *, bucket: str, for_update: bool = False) -> LockoutState:
    stmt = select(AuthLockout).where(AuthLockout.bucket == bucket)
    if for_update:
        stmt = stmt.with_for_update()
    row = (await session.execute(stmt)).scalar_one_or_none()
    if row is None:
        return LockoutState()
    return LockoutState(row.failures, row.first_failure_at, row.lockouts, row.locked_until)


async def save_state(session: AsyncSession, *, bucket: str, state: LockoutState) -> None:
    values = {
        "failures": state.failures, "first_failure_at": state.first_failure_at, "lockouts": state.lockouts,
        "locked_until": state.locked_until, "updated_at": func.now(),
    }
    stmt = insert(AuthLockout).values(bucket=bucket, **values)
    await session.execute(stmt.on_conflict_do_update(index_elements=[AuthLockout.bucket], set_=values))


async def clear(session: AsyncSession, *, bucket: str) -> None:
    await session.execute(delete(AuthLockout).where(AuthLockout.bucket == bucket))


async def purge_idle(session: AsyncSession, *, idle_seconds: int) -> int:
    """Delete rows untouched for ``idle_seconds`` that hold no running lock."""
    stmt = delete(AuthLockout).where(
        AuthLockout.updated_at < func.now() - func.make_interval(0, 0, 0, 0, 0, 0, idle_seconds),
        (AuthLockout.locked_until.is_(None)) | (AuthLockout.locked_until < func.now()),
    )
    result = await session.execute(stmt)
    return result.rowcount or 0
