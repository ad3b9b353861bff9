"""Reading ``audit_logs`` (rows are written by :func:`db.audit.record_audit`)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import AuditLog
from db.queries.keyset import Position, newest_first


@dataclass(frozen=True)
class AuditFilter:
    """Every field narrows the result; ``None`` means "any". Times bound ``created_at``: since
    inclusive, until exclusive."""

    user_id: uuid.UUID | None = None
    action: str | None = None
    resource_type: str | None = None
    resource_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None


async def list_page(
    session: AsyncSession, *, where: AuditFilter, after: Position | None, limit: int
) -> list[AuditLog]:
    """Up to ``limit + 1`` audit rows matching ``where``, newest first."""
    stmt = select(AuditLog)
    if where.user_id is not None:
        stmt = stmt.where(AuditLog.user_id == where.user_id)
    if where.action is not None:
        stmt = stmt.where(AuditLog.action == where.action)
    if where.resource_type is not None:
        stmt = stmt.where(AuditLog.resource_type == where.resource_type)
    if where.resource_id is not None:
        stmt = stmt.where(AuditLog.resource_id == where.resource_id)
    if where.since is not None:
        stmt = stmt.where(AuditLog.created_at >= where.since)
    if where.until is not None:
        stmt = stmt.where(AuditLog.created_at < where.until)
    stmt = newest_first(stmt, created_at=AuditLog.created_at, id_=AuditLog.id, after=after, limit=limit)
    return list((await session.execute(stmt)).scalars())
