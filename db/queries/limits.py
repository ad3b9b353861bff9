"""Limit usage: what a user's live operations add up to in the rolling windows.

Usage is derived from ``operations`` (status not failed or cancelled), so a failed or cancelled
operation releases its usage with no bookkeeping. An operation counts from
``coalesce(limits_counted_at, created_at)``: a withdrawal from its request, a deposit only once its
policy step admitted it (``limits_counted_at`` set). A deposit claim still waiting for its
confirmations, or waiting for the user's KYC or limit window, uses no limit yet; otherwise claims
that have not settled could lock their own owner out, and deposits queued behind a full window
would all count as "old" the moment they pass. Callers that record a new operation first take
:func:`lock_user_limits` in the same transaction, so concurrent requests of one user serialise and
cannot overshoot a limit together.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import and_, func, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Operation
from domain.limits import DAILY_WINDOW, MONTHLY_WINDOW, LimitedOperation, LimitPolicy, Usage, check_operation
from domain.operations import OperationStatus, OperationType
from domain.user_waits import UsageEntry

_RELEASED = (OperationStatus.FAILED.value, OperationStatus.CANCELLED.value)


async def lock_user_limits(session: AsyncSession, *, user_id: uuid.UUID) -> None:
    """Transaction-scoped advisory lock on the user's limit usage (released at commit/rollback)."""
    await session.execute(
        text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"), {"key": f"limits:{user_id}"}
    )


#: When an operation's amount started counting against the rolling limits (a SQL expression).
_counted_at = func.coalesce(Operation.limits_counted_at, Operation.created_at)


def _counted(user_id: uuid.UUID, operation_type: str):  # noqa: ANN202 (a SQL expression)
    """Live operations of the user and type that count: deposits once admitted, others always."""
    return and_(
        Operation.user_id == user_id,
        Operation.operation_type == operation_type,
        Operation.status.not_in(_RELEASED),
        Operation.amount.is_not(None),
        or_(Operation.operation_type != OperationType.DEPOSIT.value, Operation.limits_counted_at.is_not(None)),
    )


async def get_usage(session: AsyncSession, *, user_id: uuid.UUID, operation_type: str, now: datetime) -> Usage:
    """Sum of counted operation amounts (sats) of ``operation_type`` in the last 24 h and 30 days."""
    daily_since = now - DAILY_WINDOW
    row = (
        await session.execute(
            select(
                func.coalesce(func.sum(Operation.amount).filter(_counted_at >= daily_since), 0),
                func.coalesce(func.sum(Operation.amount), 0),
            ).where(_counted(user_id, operation_type), _counted_at >= now - MONTHLY_WINDOW)
        )
    ).one()
    return Usage(daily_sats=int(row[0]), monthly_sats=int(row[1]))


async def usage_entries(
    session: AsyncSession, *, user_id: uuid.UUID, operation_type: str, now: datetime,
    excluding: uuid.UUID | None = None,
) -> list[UsageEntry]:
    """The counted operations behind :func:`get_usage` (amount and counting time), oldest first,
    without ``excluding`` (the operation being checked)."""
    stmt = (
        select(Operation.amount, _counted_at)
        .where(_counted(user_id, operation_type), _counted_at >= now - MONTHLY_WINDOW)
        .order_by(_counted_at)
    )
    if excluding is not None:
        stmt = stmt.where(Operation.id != excluding)
    return [UsageEntry(int(amount), counted_at) for amount, counted_at in (await session.execute(stmt)).all()]


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
