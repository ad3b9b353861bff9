"""Withdrawal reads and writes by intent: the balance hold, the burn debit, payouts.

Every writer runs inside the caller's transaction, so a balance change commits together with
the operation it belongs to and that operation's audit row. Amounts are base units (= sats).

The hold lives on the operation: ``operations.metadata.reserved`` is true while the amount is
counted in ``token_balances.reserved_balance``. Hold, release and debit flip it under the
balance row lock, which makes each of them idempotent.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Operation, Payout, TokenBalance
from db.models.base import utcnow
from db.models.payout import CHANGE_INDEX_SEQUENCE
from domain.operations import OperationStage, OperationStatus, OperationType
from domain.withdrawals import check_available

#: Payouts whose inputs are spoken for: their transaction exists and may reach the chain.
LIVE_PAYOUT_STATUSES = ("awaiting_signature", "signed", "broadcast")


@dataclass(frozen=True)
class NewWithdrawal:
    """A withdrawal request to record: who, how much (sats), where to, under which keys."""

    operation_id: uuid.UUID
    user_id: uuid.UUID
    amount_sats: int
    btc_address: str
    stellar_address: str
    token_address: str
    idempotency_key: str
    workflow_id: str


async def lock_balance(session: AsyncSession, *, user_id: uuid.UUID, token_address: str) -> TokenBalance | None:
    """The user's balance row of ``token_address``, locked until the transaction ends (None if absent)."""
    stmt = (
        select(TokenBalance)
        .where(TokenBalance.user_id == user_id, TokenBalance.token_address == token_address)
        .with_for_update()
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def insert_with_hold(session: AsyncSession, new: NewWithdrawal) -> Operation:
    """Hold ``amount_sats`` of the available balance and insert the ``pending`` withdrawal.

    The balance row lock serialises concurrent requests of one user, so holds never exceed
    the balance (also enforced by ``ck_token_balances_reserved_le_balance``).

    Raises:
        InsufficientBalance: no balance row, or ``balance - reserved_balance < amount_sats``.
        sqlalchemy IntegrityError: the idempotency key is taken.
    """
    row = await lock_balance(session, user_id=new.user_id, token_address=new.token_address)
    check_available(balance=row.balance if row else 0, reserved=row.reserved_balance if row else 0,
                    amount_sats=new.amount_sats)
    assert row is not None
    row.reserved_balance += new.amount_sats
    row.last_updated = utcnow()
    op = Operation(
        id=new.operation_id,
        user_id=new.user_id,
        operation_type=OperationType.WITHDRAWAL.value,
        status=OperationStatus.PENDING.value,
        stage=OperationStage.RECEIVED.value,
        amount=new.amount_sats,
        token_address=new.token_address,
        workflow_id=new.workflow_id,
        idempotency_key=new.idempotency_key,
        meta={"btc_address": new.btc_address, "stellar_address": new.stellar_address, "reserved": True},
    )
    session.add(op)
    await session.flush()
    return op


async def ensure_hold(session: AsyncSession, op: Operation) -> bool:
    """Make sure ``op``'s amount is held (idempotent); True when a hold was placed now.

    Raises:
        InsufficientBalance: the hold is missing and the available balance cannot cover it.
    """
    if (op.meta or {}).get("reserved") or op.stellar_tx_hash is not None:
        return False
    row = await lock_balance(session, user_id=op.user_id, token_address=op.token_address or "")
    amount = op.amount or 0
    check_available(balance=row.balance if row else 0, reserved=row.reserved_balance if row else 0, amount_sats=amount)
    assert row is not None
    row.reserved_balance += amount
    row.last_updated = utcnow()
    op.meta = {**(op.meta or {}), "reserved": True}
    return True


async def release_hold(session: AsyncSession, op: Operation) -> bool:
    """Give the held amount back to the available balance; True when something was released."""
    if not (op.meta or {}).get("reserved"):
        return False
    row = await lock_balance(session, user_id=op.user_id, token_address=op.token_address or "")
    if row is not None:
        row.reserved_balance -= op.amount or 0
        row.last_updated = utcnow()
    op.meta = {**(op.meta or {}), "reserved": False}
    return True


async def debit_burned(session: AsyncSession, op: Operation, *, stellar_tx_hash: str) -> int | None:
    """Record the burn: the tokens left the chain balance and the hold. Returns the new balance,
    None when the burn was already recorded.

    ``stellar_tx_hash`` set with status ``processing`` makes the amount count as burned-but-unpaid
    (``db.queries.reserves``) until the withdrawal settles or is cancelled.
    """
    if op.stellar_tx_hash is not None:
        return None
    row = await lock_balance(session, user_id=op.user_id, token_address=op.token_address or "")
    assert row is not None, "a held withdrawal always has a balance row"
    amount = op.amount or 0
    if (op.meta or {}).get("reserved"):
        row.reserved_balance -= amount
    row.balance -= amount
    row.last_updated = utcnow()
    op.meta = {**(op.meta or {}), "reserved": False}
    op.stellar_tx_hash = stellar_tx_hash
    return row.balance


async def credit_reminted(session: AsyncSession, op: Operation) -> int:
    """The router re-minted a cancelled withdrawal's tokens: credit them back. Returns the balance."""
    row = await lock_balance(session, user_id=op.user_id, token_address=op.token_address or "")
    assert row is not None, "a burned withdrawal always has a balance row"
    row.balance += op.amount or 0
    row.last_updated = utcnow()
    op.meta = {**(op.meta or {}), "reminted": True}
    return row.balance


# ---- payouts -------------------------------------------------------------------------------

async def get_payout(session: AsyncSession, *, operation_id: uuid.UUID, for_update: bool = False) -> Payout | None:
    stmt = select(Payout).where(Payout.operation_id == operation_id)
    if for_update:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def lock_coin_selection(session: AsyncSession) -> None:
    """Transaction-scoped advisory lock: one payout selects coins at a time, so no two payouts
    spend the same output."""
    await session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended('payout-coin-selection', 0))"))


async def spoken_for_outpoints(session: AsyncSession) -> set[str]:
    """Outpoints spent by payouts that exist but are not confirmed (kept out of coin selection)."""
    rows = await session.execute(select(Payout.inputs).where(Payout.status.in_(LIVE_PAYOUT_STATUSES)))
    return {i["outpoint"] for inputs in rows.scalars() for i in inputs}


async def used_change_indexes(session: AsyncSession) -> list[int]:
    """Change indexes of payouts that reached or may reach the chain (their change is custody's)."""
    stmt = select(Payout.change_index).where(Payout.status != "abandoned", Payout.change_sats > 0)
    return sorted(set((await session.execute(stmt)).scalars()))


async def next_change_index(session: AsyncSession) -> int:
    return int((await session.execute(select(CHANGE_INDEX_SEQUENCE.next_value()))).scalar_one())


def inputs_json(plan_inputs: Any) -> list[dict[str, Any]]:
    """The ``payouts.inputs`` form of a plan's inputs."""
    return [
        {"outpoint": u.outpoint, "amount_sats": u.amount_sats, "branch": u.branch, "derivation_index": u.derivation_index}
        for u in plan_inputs
    ]
