"""Read-side figures for ``/api/system/overview`` and ``/metrics`` (all from Postgres projections)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import EventCursor, Operation, ReconciliationDiscrepancy, ReconciliationRun


async def operations_by_status(session: AsyncSession) -> dict[str, dict[str, int]]:
    """``{operation_type: {status: count}}``."""
    rows = (await session.execute(
        select(Operation.operation_type, Operation.status, func.count()).group_by(Operation.operation_type, Operation.status)
    )).all()
    out: dict[str, dict[str, int]] = {}
    for op_type, status, count in rows:
        out.setdefault(op_type, {})[status] = int(count)
    return out


async def oldest_pending_age_seconds(session: AsyncSession, *, now: datetime) -> float:
    """Age of the oldest pending or processing operation, seconds (0 when none)."""
    oldest = (await session.execute(
        select(func.min(Operation.created_at)).where(Operation.status.in_(("pending", "processing")))  # type: ignore[attr-defined]
    )).scalar_one()
    return max((now - oldest).total_seconds(), 0.0) if oldest else 0.0


async def active_users(session: AsyncSession, *, since: datetime) -> int:
    """Users with an operation created or updated since ``since``."""
    stmt = select(func.count(func.distinct(Operation.user_id))).where(Operation.updated_at >= since)
    return int((await session.execute(stmt)).scalar_one())


async def latest_reconciliation(session: AsyncSession) -> ReconciliationRun | None:
    stmt = select(ReconciliationRun).where(ReconciliationRun.status == "completed").order_by(text("started_at DESC")).limit(1)
    return (await session.execute(stmt)).scalar_one_or_none()


async def worst_discrepancy_bps(session: AsyncSession, *, run_id) -> int:
    stmt = select(func.coalesce(func.max(ReconciliationDiscrepancy.diff_bps), 0)).where(ReconciliationDiscrepancy.run_id == run_id)
    return int((await session.execute(stmt)).scalar_one())


async def event_cursor(session: AsyncSession, *, name: str) -> EventCursor | None:
    return await session.get(EventCursor, name)


DAY = timedelta(hours=24)
