"""Shared plumbing of the withdrawal activities: loading the operation, audit rows, heartbeats."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession
from temporalio import activity
from temporalio.exceptions import ApplicationError

from db.audit import record_audit
from db.models import Operation
from db.queries import operations
from domain.operations import OperationType

T = TypeVar("T")
HEARTBEAT_EVERY_SECONDS = 1.0


async def load_operation(session: AsyncSession, operation_id: str, *, for_update: bool = False) -> Operation:
    """The withdrawal's row.

    Raises ApplicationError ``OperationMissing``, retryable: the API commits the row right after
    starting the workflow, so the first activities may run before the commit.
    """
    op = await operations.get_by_id(session, operation_id=uuid.UUID(operation_id), for_update=for_update)
    if op is None or op.operation_type != OperationType.WITHDRAWAL.value:
        raise ApplicationError(f"withdrawal {operation_id} does not exist", type="OperationMissing")
    return op


def audit(
    session: AsyncSession, op: Operation, action: str, before: dict[str, Any], *,
    actor_id: str | None = None, reason: str | None = None, extra: dict[str, Any] | None = None,
) -> None:
    """One ``audit_logs`` row for ``op`` in the caller's transaction (state before and after)."""
    after = {**operations.snapshot(op), "amount": op.amount, **(extra or {})}
    if reason:
        after["reason"] = reason
    record_audit(
        session, action=action, resource_type="operation", resource_id=op.id,
        actor_id=uuid.UUID(actor_id) if actor_id else None, old_values=before, new_values=after,
    )


async def with_heartbeats(work: Awaitable[T]) -> T:
    """Await ``work`` while heartbeating, so a dead worker is noticed within the heartbeat timeout."""
    task = asyncio.ensure_future(work)
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=HEARTBEAT_EVERY_SECONDS)
            if done:
                return task.result()
            activity.heartbeat()
    finally:
        if not task.done():
            task.cancel()
