"""Reading and writing ``operations`` rows (the projection of each workflow), by intent.

Writers run inside the caller's transaction; the ``operations_notify`` trigger announces every
status/stage change at commit (``LISTEN operation_updates``). :func:`write_stage` is the one way a
workflow's stage reaches the row: an activity calls it in the transaction of its business effect,
so the projection, the audit row and the effect commit together.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg.rows import namedtuple_row
from sqlalchemy import and_, func, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from db.audit import record_audit
from db.models import AuditLog, Operation
from db.models.base import utcnow
from db.queries.keyset import Position, newest_first
from domain.operations import OperationStage, OperationStatus, OperationType, check_transition


@dataclass(frozen=True)
class NewDeposit:
    """A deposit claim to record: outpoint parts, amount in sats, who and where to mint."""

    user_id: uuid.UUID
    txid: str
    vout: int
    amount_sats: int
    idempotency_key: str
    workflow_id: str
    token_address: str
    stellar_address: str
    source: str
    """``api`` or ``detection``."""
    outpoints: list[str] | None = None
    """A deposit of several small receipts: every outpoint it credits (``outpoint`` is the last)."""


def received_operation(
    operation_type: OperationType, *, user_id: uuid.UUID, amount: int, token_address: str, workflow_id: str,
    idempotency_key: str,
) -> dict[str, Any]:
    """The columns of an operation as it is recorded: ``pending`` at stage ``received``, for
    ``amount`` (satoshis, or token units one to one) minted to or burned from ``token_address``.
    Deposits and withdrawals add their own columns (outpoint, metadata) to these."""
    return {
        "user_id": user_id,
        "operation_type": operation_type.value,
        "status": OperationStatus.PENDING.value,
        "stage": OperationStage.RECEIVED.value,
        "amount": amount,
        "token_address": token_address,
        "workflow_id": workflow_id,
        "idempotency_key": idempotency_key,
    }


async def insert_deposit(session: AsyncSession, new: NewDeposit) -> Operation | None:
    """Insert a ``pending`` deposit; None when the outpoint or idempotency key is already taken.

    ``ON CONFLICT DO NOTHING`` makes concurrent identical requests safe: one insert wins, the
    others wait for it to commit and then find nothing inserted (read the winner with
    :func:`get_by_outpoint`).
    """
    stmt = (
        insert(Operation)
        .values(
            id=uuid.uuid4(),
            **received_operation(
                OperationType.DEPOSIT, user_id=new.user_id, amount=new.amount_sats, token_address=new.token_address,
                workflow_id=new.workflow_id, idempotency_key=new.idempotency_key,
            ),
            btc_tx_hash=new.txid,
            outpoint=f"{new.txid}:{new.vout}",
            meta={"vout": new.vout, "stellar_address": new.stellar_address, "source": new.source,
                  **({"outpoints": new.outpoints} if new.outpoints else {})},
        )
        .on_conflict_do_nothing()
        .returning(Operation)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def get_by_id(session: AsyncSession, *, operation_id: uuid.UUID, for_update: bool = False) -> Operation | None:
    """The operation, or None. ``for_update`` locks the row until the transaction ends."""
    stmt = select(Operation).where(Operation.id == operation_id)
    if for_update:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def get_for_user(session: AsyncSession, *, operation_id: uuid.UUID, user_id: uuid.UUID) -> Operation | None:
    """The operation if it belongs to ``user_id`` (None for absent and for not yours alike)."""
    stmt = select(Operation).where(Operation.id == operation_id, Operation.user_id == user_id)
    return (await session.execute(stmt)).scalar_one_or_none()


async def get_by_outpoint(session: AsyncSession, *, outpoint: str) -> Operation | None:
    """The operation currently holding ``txid:vout``, or None."""
    return (await session.execute(select(Operation).where(Operation.outpoint == outpoint))).scalar_one_or_none()


async def get_by_idempotency_key(session: AsyncSession, *, idempotency_key: str) -> Operation | None:
    stmt = select(Operation).where(Operation.idempotency_key == idempotency_key)
    return (await session.execute(stmt)).scalar_one_or_none()


async def held_outpoints(session: AsyncSession, *, outpoints: list[str]) -> set[str]:
    """Which of ``outpoints`` an operation already holds (the scan skips those)."""
    if not outpoints:
        return set()
    rows = await session.execute(select(Operation.outpoint).where(Operation.outpoint.in_(outpoints)))
    return {r for r in rows.scalars() if r is not None}


async def list_stuck_at(
    session: AsyncSession, *, operation_type: OperationType, stage: OperationStage, created_before: datetime,
    created_after: datetime | None = None, limit: int = 500,
) -> list[Operation]:
    """Unfinished operations of ``operation_type`` still at ``stage``, created before
    ``created_before`` (and after ``created_after`` when given), oldest first: the scan's heal
    of starts that failed. Filtered here, so a backlog at later stages never hides one."""
    conditions = [
        Operation.operation_type == operation_type.value,
        Operation.stage == stage.value,
        Operation.created_at < created_before,
        Operation.status.in_([OperationStatus.PENDING.value, OperationStatus.PROCESSING.value]),
    ]
    if created_after is not None:
        conditions.append(Operation.created_at > created_after)
    stmt = select(Operation).where(*conditions).order_by(Operation.created_at).limit(limit)
    return list((await session.execute(stmt)).scalars())


#: Stages where an operation waits on its user (the KYC workflow signals them on a change).
WAITING_ON_USER = (OperationStage.AWAITING_KYC.value, OperationStage.AWAITING_LIMITS.value)
#: Errors of deposits parked for an operator, before issue 14, for a reason the user can fix.
PARKED_FOR_USER = ("insufficient_kyc_tier", "limit_exceeded")


async def list_waiting_on_user(session: AsyncSession, *, user_id: uuid.UUID) -> list[Operation]:
    """The user's unfinished deposits that wait on them: at ``awaiting_kyc``/``awaiting_limits``,
    or parked at ``needs_attention`` by a policy refusal the user can fix (older runs)."""
    stmt = select(Operation).where(
        Operation.user_id == user_id,
        Operation.operation_type == OperationType.DEPOSIT.value,
        Operation.status.in_([OperationStatus.PENDING.value, OperationStatus.PROCESSING.value]),
        or_(
            Operation.stage.in_(WAITING_ON_USER),
            and_(Operation.stage == OperationStage.NEEDS_ATTENTION.value, Operation.error.in_(PARKED_FOR_USER)),
        ),
    )
    return list((await session.execute(stmt)).scalars())


async def count_unconfirmed_claims(session: AsyncSession, *, user_id: uuid.UUID) -> int:
    """The user's unfinished deposit claims made through the API whose output is not yet in a block."""
    stmt = select(func.count()).select_from(Operation).where(
        Operation.user_id == user_id,
        Operation.operation_type == OperationType.DEPOSIT.value,
        Operation.status.in_([OperationStatus.PENDING.value, OperationStatus.PROCESSING.value]),
        Operation.stage.in_([
            OperationStage.RECEIVED.value, OperationStage.VERIFYING.value, OperationStage.AWAITING_CONFIRMATIONS.value,
        ]),
        func.coalesce(Operation.confirmations, 0) == 0,
        Operation.meta["source"].astext == "api",
    )
    return int((await session.execute(stmt)).scalar_one())


@dataclass(frozen=True)
class OperationFilter:
    """``None`` means any."""

    operation_type: str | None = None
    status: str | None = None


async def list_page(
    session: AsyncSession, *, user_id: uuid.UUID, where: OperationFilter, after: Position | None, limit: int
) -> list[Operation]:
    """Up to ``limit + 1`` of the user's operations, newest first."""
    stmt = select(Operation).where(Operation.user_id == user_id)
    if where.operation_type is not None:
        stmt = stmt.where(Operation.operation_type == where.operation_type)
    if where.status is not None:
        stmt = stmt.where(Operation.status == where.status)
    stmt = newest_first(stmt, created_at=Operation.created_at, id_=Operation.id, after=after, limit=limit)
    return list((await session.execute(stmt)).scalars())


async def stage_history(session: AsyncSession, *, operation_id: uuid.UUID) -> list[tuple[str, str, Any]]:
    """``(stage, status, at)`` of each recorded stage change of the operation, oldest first
    (from its audit rows, which are written in the same transaction as each change)."""
    rows = await session.execute(
        select(AuditLog.new_values, AuditLog.created_at)
        .where(AuditLog.resource_type == "operation", AuditLog.resource_id == str(operation_id))
        .order_by(AuditLog.created_at, AuditLog.id)
    )
    return collapse_stages(((values or {}).get("stage"), (values or {}).get("status"), at) for values, at in rows)


def collapse_stages(changes: Iterable[tuple[str | None, str | None, Any]]) -> list[tuple[str, str, Any]]:
    """``(stage, status, at)`` audit entries, oldest first, with rows that name no stage or repeat
    the previous stage dropped (a depth update writes an audit row at the same stage)."""
    history: list[tuple[str, str, Any]] = []
    for stage, status, at in changes:
        if stage and (not history or history[-1][0] != stage):
            history.append((stage, status, at))
    return history


def snapshot(op: Operation) -> dict[str, Any]:
    """The fields an audit row keeps of an operation's state."""
    return {
        "status": op.status,
        "stage": op.stage,
        "confirmations": op.confirmations,
        "error": op.error,
        "stellar_tx_hash": op.stellar_tx_hash,
        "waiting_for": op.waiting_for,
    }


#: The fields whose change is an audited stage change (a depth change alone is not).
AUDITED_FIELDS = ("status", "stage", "error", "waiting_for")


@dataclass(frozen=True)
class StageChange:
    """A change of an operation's projection; ``None`` fields are left as they are.

    ``status`` must be a transition the lifecycle allows (``domain.operations.check_transition``).
    ``waiting_for`` (what the user must do, in words) comes with ``wait_reason``, its stable code
    (``operations.metadata.wait_reason``); ``clear_waiting`` clears both, ``clear_error`` the error
    (applied before ``error``, so a change can replace one error by another). ``audit_action``
    names the audit row (default ``<operation type>.stage_changed``, written only when an
    audited field changed); ``actor_id`` and ``reason`` come from an operator's signal.
    """

    stage: str | None = None
    status: str | None = None
    confirmations: int | None = None
    required_confirmations: int | None = None
    error: str | None = None
    clear_error: bool = False
    waiting_for: str | None = None
    wait_reason: str | None = None
    clear_waiting: bool = False
    audit_action: str | None = None
    actor_id: uuid.UUID | None = None
    reason: str | None = None


def apply_change(op: Operation, change: StageChange) -> bool:
    """Set the changed fields on ``op`` (locked by the caller); True when any value differs.

    ``updated_at`` moves only when something changed, so a repeated write (an activity's retry)
    leaves the row and its NOTIFY alone.

    Raises:
        IllegalTransition: ``change.status`` is not allowed from the row's status.
    """
    before = (op.status, op.stage, op.confirmations, op.required_confirmations, op.error, op.waiting_for, op.meta)
    if change.status is not None:
        check_transition(OperationStatus(op.status), OperationStatus(change.status))
        op.status = change.status
    for name in ("stage", "confirmations", "required_confirmations"):
        value = getattr(change, name)
        if value is not None and getattr(op, name) != value:
            setattr(op, name, value)
    if change.clear_error and op.error is not None:
        op.error = None
    if change.error is not None and op.error != change.error:
        op.error = change.error
    meta = op.meta or {}
    if change.clear_waiting and (op.waiting_for is not None or "wait_reason" in meta):
        op.waiting_for = None
        op.meta = {k: v for k, v in meta.items() if k != "wait_reason"}
    if change.waiting_for is not None and (op.waiting_for, meta.get("wait_reason")) != (
        change.waiting_for, change.wait_reason
    ):
        op.waiting_for = change.waiting_for
        op.meta = {**meta, "wait_reason": change.wait_reason}
    after = (op.status, op.stage, op.confirmations, op.required_confirmations, op.error, op.waiting_for, op.meta)
    if after != before:
        op.updated_at = utcnow()
    return after != before


def record_change(
    session: AsyncSession, op: Operation, before: dict[str, Any], change: StageChange, *,
    extra: dict[str, Any] | None = None,
) -> bool:
    """Write the audit row of a change applied to ``op`` since ``before`` (a :func:`snapshot`),
    in the caller's transaction: when an audited field changed, or when ``change.audit_action``
    asks for one. ``extra`` is added to the row's new values. True when a row was written."""
    after = snapshot(op)
    if not (change.audit_action or any(before[k] != after[k] for k in AUDITED_FIELDS)):
        return False
    record_audit(
        session, action=change.audit_action or f"{op.operation_type}.stage_changed", resource_type="operation",
        resource_id=op.id, actor_id=change.actor_id, old_values=before,
        new_values={**after, **({"reason": change.reason} if change.reason else {}), **(extra or {})},
    )
    return True


def write_stage(session: AsyncSession, op: Operation, change: StageChange) -> bool:
    """Apply ``change`` to ``op`` (locked by the caller, e.g. ``get_by_id(..., for_update=True)``)
    and audit it, in the caller's transaction. Returns True when the row changed.

    Raises:
        IllegalTransition: ``change.status`` is not allowed from the row's status.
    """
    before = snapshot(op)
    changed = apply_change(op, change)
    record_change(session, op, before, change)
    return changed


# --- Status reads (GET /api/integration/operations/{id}): one round trip, no session ---------------

#: The columns are the attributes :meth:`api.schemas.operations.OperationOut.of` reads; the
#: LATERAL aggregate is the stage history of :func:`stage_history` (same rows, same order) as three
#: arrays. psycopg's placeholders: :func:`get_status_for_user` runs it on the driver connection.
_STATUS_FOR_USER = (
    "SELECT o.id, o.operation_type, o.status, o.stage, o.amount, o.btc_tx_hash, o.metadata AS meta, "
    "       o.confirmations, o.required_confirmations, o.stellar_tx_hash, o.workflow_id, o.error, "
    "       o.waiting_for, o.created_at, o.updated_at, o.completed_at, h.h_stage, h.h_status, h.h_at "
    "FROM operations o CROSS JOIN LATERAL ("
    "    SELECT array_agg(a.new_values ->> 'stage' ORDER BY a.created_at, a.id) AS h_stage, "
    "           array_agg(a.new_values ->> 'status' ORDER BY a.created_at, a.id) AS h_status, "
    "           array_agg(a.created_at ORDER BY a.created_at, a.id) AS h_at "
    "    FROM audit_logs a WHERE a.resource_type = 'operation' AND a.resource_id = %(resource_id)s"
    ") h "
    "WHERE o.id = %(operation_id)s AND o.user_id = %(user_id)s"
)


async def get_status_for_user(
    conn: AsyncConnection, *, operation_id: uuid.UUID, user_id: uuid.UUID
) -> tuple[Any, list[tuple[str, str, Any]]] | None:
    """The operation if it belongs to ``user_id``, with its stage history (as :func:`stage_history`),
    in one query on a bare connection; None for absent and for not yours alike.

    The query runs on the psycopg connection under ``conn`` (a named-tuple row), not through
    SQLAlchemy's execution and result layers (greenlet hop, execution context, result metadata):
    on the polling hot path they cost about a third of the query's CPU time, for a statement that
    needs none of them. Same statement, same connection, same values (psycopg decodes ``jsonb``,
    arrays and ``timestamptz`` as SQLAlchemy hands them on).

    Returns:
        ``(row, history)``: ``row`` has the attributes of :class:`db.models.Operation` that an
        ``OperationOut`` shows (``meta`` included); ``history`` is ``(stage, status, at)`` oldest first.
    """
    params = {"operation_id": operation_id, "user_id": user_id, "resource_id": str(operation_id)}
    driver = (await conn.get_raw_connection()).driver_connection
    async with driver.cursor(row_factory=namedtuple_row) as cursor:
        await cursor.execute(_STATUS_FOR_USER, params)
        row = await cursor.fetchone()
    if row is None:
        return None
    return row, collapse_stages(zip(row.h_stage or (), row.h_status or (), row.h_at or (), strict=True))
