"""Shared plumbing of the withdrawal activities: loading the operation, audit rows, heartbeats."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.exceptions import ApplicationError

from db.audit import record_audit
from db.models import Operation
from db.queries import operations
from domain.operations import OperationType


async def load_operation(session: AsyncSession, operation_id: str, *, for_update: bool = False) -> Operation:
    """The withdrawal's row.

    Raises ApplicationError ``OperationMissing`` (non-retryable, as for deposits): the API commits
    the row before it starts the workflow, so a missing row is never a matter of waiting.
    """
    op = await operations.get_by_id(session, operation_id=uuid.UUID(operation_id), for_update=for_update)
    if op is None or op.operation_type != OperationType.WITHDRAWAL.value:
        raise ApplicationError(f"withdrawal {operation_id} does not exist", type="OperationMissing",
                               non_retryable=True)
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
