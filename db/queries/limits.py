"""Limit usage: what a user's live operations add up to in the rolling windows.

Usage is derived from ``operations`` (status not failed or cancelled), so a failed or cancelled
operation releases its usage with no bookkeeping. Callers that record a new operation first take
:func:`lock_user_limits` in the same transaction, so concurrent requests of one user serialise and
cannot overshoot a limit together.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import and_, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Operation
from domain.limits import DAILY_WINDOW, MONTHLY_WINDOW, LimitedOperation, LimitPolicy, Usage, check_operation
from domain.operations import OperationStatus

_RELEASED = (OperationStatus.FAILED.value, OperationStatus.CANCELLED.value)


async def lock_user_limits(session: AsyncSession, *, user_id: uuid.UUID) -> None:
    """Transaction-scoped advisory lock on the user's limit usage (released at commit/rollback)."""
    await session.execute(
        text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"), {"key": f"limits:{user_id}"}
    )


async def get_usage(session: AsyncSession, *, user_id: uuid.UUID, operation_type: str, now: datetime) -> Usage:
    """Sum of live operation amounts (sats) of ``operation_type`` in the last 24 h and 30 days."""
    live = and_(
        Operation.user_id == user_id,
        Operation.operation_type == operation_type,
        Operation.status.not_in(_RELEASED),
        Operation.amount.is_not(None),
    )
    daily_since = now - DAILY_WINDOW
    row = (
        await session.execute(
            select(
                func.coalesce(func.sum(Operation.amount).filter(Operation.created_at >= daily_since), 0),
                func.coalesce(func.sum(Operation.amount), 0),
            ).where(live, Operation.created_at >= now - MONTHLY_WINDOW)
        )
    ).one()
    return Usage(daily_sats=int(row[0]), monthly_sats=int(row[1]))


async def check_and_hold(
    session: AsyncSession,
    *,
    policy: LimitPolicy,
    operation: LimitedOperation,
    user_id: uuid.UUID,
    tier: int,
    amount_sats: int,
    now: datetime,
) -> Usage:
    """Lock the user's limit usage, then check ``amount_sats`` against ``policy``.

    The caller inserts its ``operations`` row in the same transaction: from then on the amount
    counts as used, and the lock (held to commit) keeps concurrent requests from overshooting.

    Returns:
        The usage before this operation.

    Raises:
        InsufficientTier, LimitExceeded: from :func:`domain.limits.check_operation`.
    """
    await lock_user_limits(session, user_id=user_id)
    usage = await get_usage(session, user_id=user_id, operation_type=operation.value, now=now)
    check_operation(policy, operation, tier, amount_sats, usage)
    return usage
