"""Withdrawal reads and writes by intent: the balance hold, the burn, change indexes (payouts
themselves: :mod:`db.queries.payouts`).

Every writer runs inside the caller's transaction, so a ledger posting commits together with
the operation it belongs to and that operation's audit row. Amounts are base units (= sats).

The hold is a pending transfer in the books (``withdrawal-hold:<operation id>``, debit the
user's iSTSi): the account's ``debits_must_not_exceed_credits`` flag refuses a hold beyond the
available balance, the burn posts it and a release voids it, each at most once.
``token_balances.reserved_balance`` is its projection. ``operations.metadata.reserved`` mirrors
whether the hold is open, for readers of the operation alone.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from db import ledger
from db.models import Operation
from db.models.payout import CHANGE_INDEX_SEQUENCE
from db.queries.operations import received_operation
from domain import entries as e
from domain.chart import balance
from domain.ledger import LedgerError, Result
from domain.operations import OperationType
from domain.withdrawals import InsufficientBalance, PayoutPriority


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
    payout_priority: str = PayoutPriority.BATCH
    """``batch`` (the next batch) or ``asap`` (a payout of its own, now)."""


async def _hold(session: AsyncSession, op: Operation) -> None:
    amount = op.amount or 0
    try:
        await ledger.post(session, e.withdrawal_hold(op.id, op.user_id, amount), token_address=op.token_address)
    except LedgerError as exc:
        if exc.result != Result.EXCEEDS_CREDITS:
            raise
        available = (await ledger.account(session, e.user_istsi(op.user_id))).credit_available
        raise InsufficientBalance(f"available balance is {max(available, 0)} units; {amount} requested") from exc


async def insert_with_hold(session: AsyncSession, new: NewWithdrawal) -> Operation:
    """Insert the ``pending`` withdrawal and hold ``amount_sats`` of the available balance.

    The ledger account's row lock serialises concurrent holds of one user and its balance flag
    refuses any beyond the available balance.

    Raises:
        InsufficientBalance: the available balance is smaller than ``amount_sats``.
        sqlalchemy IntegrityError: the idempotency key is taken.
    """
    op = Operation(
        id=new.operation_id,
        **received_operation(
            OperationType.WITHDRAWAL, user_id=new.user_id, amount=new.amount_sats, token_address=new.token_address,
            workflow_id=new.workflow_id, idempotency_key=new.idempotency_key,
        ),
        meta={"btc_address": new.btc_address, "stellar_address": new.stellar_address, "reserved": True,
              **({"payout_priority": new.payout_priority} if new.payout_priority != PayoutPriority.BATCH else {})},
    )
    session.add(op)
    await session.flush()
    await _hold(session, op)
    return op


async def ensure_hold(session: AsyncSession, op: Operation) -> bool:
    """Make sure ``op``'s amount is held (idempotent); True when a hold was placed now.

    Raises:
        InsufficientBalance: the hold is missing and the available balance cannot cover it.
    """
    if op.stellar_tx_hash is not None or await ledger.get_transfer(session, f"withdrawal-hold:{op.id}"):
        return False
    await _hold(session, op)
    op.meta = {**(op.meta or {}), "reserved": True}
    return True


async def release_hold(session: AsyncSession, op: Operation) -> bool:
    """Void the hold (idempotent); True when something was released now."""
    if await ledger.get_transfer(session, f"withdrawal-hold:{op.id}") is None:
        return False
    results = await ledger.post(session, e.withdrawal_release(op.id, op.user_id, op.amount or 0),
                                token_address=op.token_address)
    op.meta = {**(op.meta or {}), "reserved": False}
    return results == [Result.OK]


async def debit_burned(session: AsyncSession, op: Operation, *, stellar_tx_hash: str) -> int | None:
    """Record the burn: the hold is posted (the tokens left the user's balance) and their
    backing becomes BTC owed (``withdrawals_unpaid``). Returns the new balance, None when the
    burn was already recorded.

    ``stellar_tx_hash`` set with status ``processing`` marks the withdrawal burned-but-unpaid
    until it settles or is re-minted.
    """
    if op.stellar_tx_hash is not None:
        return None
    amount = op.amount or 0
    await ledger.post(session, [*e.withdrawal_hold(op.id, op.user_id, amount), *e.withdrawal_burn(op.id, op.user_id, amount)],
                      token_address=op.token_address)
    op.meta = {**(op.meta or {}), "reserved": False}
    op.stellar_tx_hash = stellar_tx_hash
    return balance(await ledger.account(session, e.user_istsi(op.user_id)))


async def credit_reminted(session: AsyncSession, op: Operation) -> int:
    """The router re-minted a cancelled withdrawal's tokens: they are the user's again and
    their BTC backs them again. Returns the balance."""
    await ledger.post(session, e.withdrawal_remint(op.id, op.user_id, op.amount or 0), token_address=op.token_address)
    op.meta = {**(op.meta or {}), "reminted": True}
    return balance(await ledger.account(session, e.user_istsi(op.user_id)))


# ---- payouts -------------------------------------------------------------------------------

async def next_change_index(session: AsyncSession) -> int:
    """The next internal-chain index for a payout's change (``payout_change_index_seq``)."""
    return int((await session.execute(select(CHANGE_INDEX_SEQUENCE.next_value()))).scalar_one())
