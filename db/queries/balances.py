"""``token_balances``: the engine's projection of each user's iSTSi, by intent.

Amounts are base units (1 unit = 1 satoshi). Writers run inside the caller's transaction, so a
credit commits together with the operation it settles and that operation's audit row.
"""

from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import TokenBalance
from db.models.base import utcnow


async def credit(session: AsyncSession, *, user_id: uuid.UUID, token_address: str, amount_units: int) -> int:
    """Add ``amount_units`` (> 0) to the user's balance, creating the row; returns the new balance.

    Raises:
        ValueError: ``amount_units`` is not positive.
    """
    if amount_units <= 0:
        raise ValueError("a credit must be positive")
    stmt = insert(TokenBalance).values(
        id=uuid.uuid4(), user_id=user_id, token_address=token_address, balance=amount_units, reserved_balance=0
    )
    stmt = stmt.on_conflict_do_update(
        constraint="uq_token_balances_user_token",
        set_={"balance": TokenBalance.balance + amount_units, "last_updated": utcnow()},
    ).returning(TokenBalance.balance)
    return int((await session.execute(stmt)).scalar_one())


async def list_for_user(session: AsyncSession, *, user_id: uuid.UUID) -> list[TokenBalance]:
    """The user's balance rows (one per token), oldest first."""
    stmt = select(TokenBalance).where(TokenBalance.user_id == user_id).order_by(TokenBalance.created_at)
    return list((await session.execute(stmt)).scalars())


async def total_credited(session: AsyncSession, *, token_address: str) -> int:
    """Sum of every user's balance of ``token_address`` (compared with the on-chain supply)."""
    stmt = select(func.coalesce(func.sum(TokenBalance.balance), 0)).where(TokenBalance.token_address == token_address)
    return int((await session.execute(stmt)).scalar_one())
