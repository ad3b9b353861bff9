"""Token revocations (logout): recorded by ``jti``, checked on every authenticated request."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import RevokedToken


async def revoke(session: AsyncSession, *, jti: str, user_id: uuid.UUID, expires_at: datetime) -> bool:
    """Record ``jti`` as revoked; False when it already was (a repeated logout is harmless)."""
    stmt = (
        insert(RevokedToken)
        .values(jti=jti, user_id=user_id, expires_at=expires_at)
        .on_conflict_do_nothing(index_elements=["jti"])
        .returning(RevokedToken.jti)
    )
    return (await session.execute(stmt)).first() is not None


async def is_revoked(session: AsyncSession, *, jti: str) -> bool:
    return (await session.execute(select(RevokedToken.jti).where(RevokedToken.jti == jti))).first() is not None


async def purge_expired(session: AsyncSession) -> int:
    """Delete revocations of tokens that have expired anyway; returns how many."""
    result = await session.execute(delete(RevokedToken).where(RevokedToken.expires_at < func.now()))
    return result.rowcount or 0
