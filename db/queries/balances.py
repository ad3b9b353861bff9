"""``token_balances``: the projection of each user's ``user_istsi`` account in the books, read by intent.

Amounts are base units (1 unit = 1 satoshi). Nothing writes these rows but the ledger trigger
(``db/migrations/versions/0010_books.py``) and ``db.ledger.open_accounts``.
"""

from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import TokenBalance


async def list_for_user(session: AsyncSession, *, user_id: uuid.UUID) -> list[TokenBalance]:
    """The user's balance rows (one per token), oldest first."""
    stmt = select(TokenBalance).where(TokenBalance.user_id == user_id).order_by(TokenBalance.created_at)
    return list((await session.execute(stmt)).scalars())


async def total_credited(session: AsyncSession, *, token_address: str) -> int:
    """Sum of every user's balance of ``token_address`` (compared with the on-chain supply)."""
    stmt = select(func.coalesce(func.sum(TokenBalance.balance), 0)).where(TokenBalance.token_address == token_address)
    return int((await session.execute(stmt)).scalar_one())
