"""Liability and asset figures the proof of reserves and reconciliation read from Postgres.

Definitions (shared with the withdrawal flow, which keeps them true):

* **burned-but-unpaid withdrawals** — ``operations`` rows with ``operation_type='withdrawal'``,
  ``stellar_tx_hash IS NOT NULL`` (the burn happened on chain) and ``status IN ('pending',
  'processing')`` (the BTC payout is not settled). Their sum is owed in BTC although the tokens
  are gone from ``total_supply``.
* ``token_balances.balance`` mirrors the user's on-chain iSTSi balance, so a burned amount has
  left it; a user's liability is ``balance`` plus their burned-but-unpaid withdrawals.
* The database's **net deposits** are completed deposits minus completed withdrawals.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import datetime

from sqlalchemy import case, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Operation, TokenBalance

BURNED_UNPAID_STATUSES = ("pending", "processing")


def _burned_unpaid_filter():
    return (
        (Operation.operation_type == "withdrawal")
        & Operation.stellar_tx_hash.is_not(None)  # type: ignore[union-attr]
        & Operation.status.in_(BURNED_UNPAID_STATUSES)  # type: ignore[attr-defined]
    )


async def burned_unpaid_withdrawals_sats(session: AsyncSession) -> int:
    """Sum of withdrawals burned on chain and not yet paid out, satoshis (module docstring)."""
    stmt = select(func.coalesce(func.sum(Operation.amount), 0)).where(_burned_unpaid_filter())
    return int((await session.execute(stmt)).scalar_one())


async def net_completed_deposits_sats(session: AsyncSession) -> int:
    """Completed deposits minus completed withdrawals, satoshis."""
    signed = func.sum(case((Operation.operation_type == "deposit", Operation.amount), else_=-Operation.amount))  # type: ignore[operator]
    stmt = select(func.coalesce(signed, 0)).where(
        Operation.status == "completed", Operation.operation_type.in_(("deposit", "withdrawal"))  # type: ignore[attr-defined]
    )
    return int((await session.execute(stmt)).scalar_one())


async def total_balances_units(session: AsyncSession, *, token_address: str) -> int:
    """Sum of ``token_balances.balance`` for ``token_address``, base units."""
    stmt = select(func.coalesce(func.sum(TokenBalance.balance), 0)).where(TokenBalance.token_address == token_address)
    return int((await session.execute(stmt)).scalar_one())


_LIABILITIES_SQL = text(
    """
    SELECT COALESCE(b.user_id, w.user_id) AS user_id,
           COALESCE(b.balance, 0) + COALESCE(w.unpaid, 0) AS liability
    FROM (SELECT user_id, balance FROM token_balances WHERE token_address = :token) AS b
    FULL OUTER JOIN (
        SELECT user_id, SUM(amount) AS unpaid FROM operations
        WHERE operation_type = 'withdrawal' AND stellar_tx_hash IS NOT NULL
          AND status IN ('pending', 'processing')
        GROUP BY user_id
    ) AS w ON b.user_id = w.user_id
    ORDER BY 1
    """
)


async def stream_user_liabilities(
    session: AsyncSession, *, token_address: str, batch_rows: int = 10_000
) -> AsyncIterator[tuple[uuid.UUID, int]]:
    """Yield ``(user_id, liability_sats)`` ordered by user id, over a server-side cursor.

    The caller's session must stay open (and in one transaction, for a consistent snapshot)
    while iterating; memory stays at ``batch_rows`` rows.
    """
    result = await session.stream(
        _LIABILITIES_SQL.bindparams(token=token_address), execution_options={"yield_per": batch_rows}
    )
    async for partition in result.partitions(batch_rows):
        for user_id, liability in partition:
            yield user_id, int(liability)


async def active_user_balances(
    session: AsyncSession, *, token_address: str, since: datetime | None, limit: int
) -> list[tuple[uuid.UUID, str, int]]:
    """``(user_id, stellar_address, balance)`` of users whose balance row or operations changed, or
    who appeared in a contract event, since ``since`` (all users with a balance row when None);
    at most ``limit``, most recently updated first."""
    where_since = "" if since is None else (
        "AND (tb.last_updated >= :since OR EXISTS (SELECT 1 FROM operations o "
        "WHERE o.user_id = tb.user_id AND o.updated_at >= :since) "
        "OR EXISTS (SELECT 1 FROM chain_events ce WHERE ce.created_at >= :since "
        "AND jsonb_exists(ce.topics, u.stellar_address)))"
    )
    stmt = text(
        "SELECT tb.user_id, u.stellar_address, tb.balance FROM token_balances tb "
        "JOIN users u ON u.id = tb.user_id "
        f"WHERE tb.token_address = :token AND u.stellar_address IS NOT NULL {where_since} "
        "ORDER BY tb.last_updated DESC LIMIT :limit"
    )
    params: dict[str, object] = {"token": token_address, "limit": limit}
    if since is not None:
        params["since"] = since
    rows = (await session.execute(stmt, params)).all()
    return [(r[0], r[1], int(r[2])) for r in rows]
