"""Liability figures the proof of reserves and reconciliation read from Postgres.

Liabilities come from the books (``ledger_accounts``): every engine user's iSTSi
(``user_istsi``), tokens held outside the engine (``istsi_external``) and written-off credits
(``suspense_istsi``) sum to ``istsi_supply``; add each user's **burned-but-unpaid withdrawals**
(``operations`` rows with ``operation_type='withdrawal'``, ``stellar_tx_hash IS NOT NULL``, status
``pending``/``processing``), whose total is the books' ``withdrawals_unpaid``.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

#: Leaf ids of the holders that are not engine users (stable, so inclusion proofs can name them).
EXTERNAL_HOLDERS_LEAF = uuid.uuid5(uuid.NAMESPACE_URL, "custody:istsi_external")
SUSPENSE_LEAF = uuid.uuid5(uuid.NAMESPACE_URL, "custody:suspense_istsi")

_LIABILITIES_FROM = """
    FROM (
        SELECT user_id, credits_posted - debits_posted AS balance FROM ledger_accounts
        WHERE code = 'user_istsi' AND (token_address = {token} OR token_address IS NULL)
        UNION ALL
        SELECT CAST({external} AS uuid), credits_posted - debits_posted FROM ledger_accounts
        WHERE key = 'istsi_external' AND credits_posted <> debits_posted
        UNION ALL
        SELECT CAST({suspense} AS uuid), credits_posted - debits_posted FROM ledger_accounts
        WHERE key = 'suspense_istsi' AND credits_posted <> debits_posted
    ) AS b
    FULL OUTER JOIN (
        SELECT user_id, SUM(amount) AS unpaid FROM operations
        WHERE operation_type = 'withdrawal' AND stellar_tx_hash IS NOT NULL
          AND status IN ('pending', 'processing')
        GROUP BY user_id
    ) AS w ON b.user_id = w.user_id
    ORDER BY COALESCE(b.user_id, w.user_id)
"""
_LIABILITIES_SQL = text(
    "SELECT COALESCE(b.user_id, w.user_id) AS user_id, COALESCE(b.balance, 0) + COALESCE(w.unpaid, 0) AS liability"
    + _LIABILITIES_FROM.format(token=":token", external=":external", suspense=":suspense")
)
# The same rows for the tree builder, for a psycopg server-side cursor: the id as its 16 raw
# bytes and the liability as BIGINT, so the client builds neither UUID nor Decimal objects (a
# liability beyond BIGINT is refused by Postgres).
_LIABILITY_ROWS_SQL = (
    "SELECT uuid_send(COALESCE(b.user_id, w.user_id)), CAST(COALESCE(b.balance, 0) + COALESCE(w.unpaid, 0) AS bigint)"
    + _LIABILITIES_FROM.format(token="%(token)s", external="%(external)s", suspense="%(suspense)s")
)


async def stream_user_liabilities(
    session: AsyncSession, *, token_address: str, batch_rows: int = 10_000
) -> AsyncIterator[tuple[uuid.UUID, int]]:
    """Yield ``(user_id, liability_sats)`` ordered by user id, over a server-side cursor (the
    non-user holders under :data:`EXTERNAL_HOLDERS_LEAF` and :data:`SUSPENSE_LEAF`).

    The caller's session must stay open (and in one transaction, for a consistent snapshot)
    while iterating; memory stays at ``batch_rows`` rows.
    """
    result = await session.stream(
        _LIABILITIES_SQL.bindparams(token=token_address, external=str(EXTERNAL_HOLDERS_LEAF), suspense=str(SUSPENSE_LEAF)),
        execution_options={"yield_per": batch_rows},
    )
    async for partition in result.partitions(batch_rows):
        for user_id, liability in partition:
            yield user_id, int(liability)


async def stream_liability_rows(
    session: AsyncSession, *, token_address: str, batch_rows: int = 16_384
) -> AsyncIterator[Sequence[tuple[bytes, int]]]:
    """The rows of :func:`stream_user_liabilities`, in batches of up to ``batch_rows``: each
    ``(user_id as 16 raw bytes, liability_sats)``, strictly ordered by user id.

    Same caller contract (one open transaction while iterating); memory stays at one batch.

    Raises:
        psycopg.errors.NumericValueOutOfRange: a liability beyond BIGINT.
    """
    # A psycopg named cursor, fetching exactly ``batch_rows`` per round trip (SQLAlchemy's
    # buffered stream makes hundreds of small FETCHes for the same rows).
    conn = await session.connection()
    raw = (await conn.get_raw_connection()).driver_connection
    params = {"token": token_address, "external": str(EXTERNAL_HOLDERS_LEAF), "suspense": str(SUSPENSE_LEAF)}
    async with raw.cursor(name=f"liabilities_{uuid.uuid4().hex}") as cur:  # type: ignore[union-attr]
        await cur.execute(_LIABILITY_ROWS_SQL, params)
        while rows := await cur.fetchmany(batch_rows):
            yield rows


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
