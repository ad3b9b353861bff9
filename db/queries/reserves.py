"""Liability figures the proof of reserves and reconciliation read from Postgres.

Liabilities come from the books (``ledger_accounts``): every engine user's iSTSi
(``user_istsi``), tokens held outside the engine (``istsi_external``) and written-off credits
(``suspense_istsi``) sum to ``istsi_supply``; add each user's **burned-but-unpaid withdrawals**
(``operations`` rows with ``operation_type='withdrawal'``, ``stellar_tx_hash IS NOT NULL``, status
``pending``/``processing``), whose total is the books' ``withdrawals_unpaid``.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

#: Leaf ids of the holders that are not engine users (stable, so inclusion proofs can name them).
EXTERNAL_HOLDERS_LEAF = uuid.uuid5(uuid.NAMESPACE_URL, "custody:istsi_external")
SUSPENSE_LEAF = uuid.uuid5(uuid.NAMESPACE_URL, "custody:suspense_istsi")
_SNAPSHOT_ID = re.compile(r"[0-9A-F]+(-[0-9A-F]+)+")

_LIABILITIES_FROM = """
    FROM (SELECT * FROM (
        SELECT user_id, credits_posted - debits_posted AS balance FROM ledger_accounts
        WHERE code = 'user_istsi' AND (token_address = {token} OR token_address IS NULL)
        UNION ALL
        SELECT CAST({external} AS uuid), credits_posted - debits_posted FROM ledger_accounts
        WHERE key = 'istsi_external' AND credits_posted <> debits_posted
        UNION ALL
        SELECT CAST({suspense} AS uuid), credits_posted - debits_posted FROM ledger_accounts
        WHERE key = 'suspense_istsi' AND credits_posted <> debits_posted
    ) AS holders{b_range}) AS b
    FULL OUTER JOIN (
        SELECT user_id, SUM(amount) AS unpaid FROM operations
        WHERE operation_type = 'withdrawal' AND stellar_tx_hash IS NOT NULL
          AND status IN ('pending', 'processing'){w_range}
        GROUP BY user_id
    ) AS w ON b.user_id = w.user_id
    ORDER BY COALESCE(b.user_id, w.user_id)
"""
_LIABILITIES_SQL = text(
    "SELECT COALESCE(b.user_id, w.user_id) AS user_id, COALESCE(b.balance, 0) + COALESCE(w.unpaid, 0) AS liability"
    + _LIABILITIES_FROM.format(token=":token", external=":external", suspense=":suspense", b_range="", w_range="")
)
# The same rows for the tree builder, for a psycopg server-side cursor: the id as its 16 raw
# bytes and the liability as BIGINT, so the client builds neither UUID nor Decimal objects (a
# liability beyond BIGINT is refused by Postgres).
_LIABILITY_ROWS_SELECT = (
    "SELECT uuid_send(COALESCE(b.user_id, w.user_id)), CAST(COALESCE(b.balance, 0) + COALESCE(w.unpaid, 0) AS bigint)"
)
_ROWS_PARAMS = {"token": "%(token)s", "external": "%(external)s", "suspense": "%(suspense)s"}
_LIABILITY_ROWS_SQL = _LIABILITY_ROWS_SELECT + _LIABILITIES_FROM.format(**_ROWS_PARAMS, b_range="", w_range="")
# One key range ``[lo, hi)`` of the same rows, keyed by (has lo, has hi). The range is applied to
# both sides of the join, so each user's row is whole in the one range that holds its id.
_RANGE = {
    (True, False): " {alias}user_id >= %(lo)s",
    (True, True): " {alias}user_id >= %(lo)s AND {alias}user_id < %(hi)s",
    # The first range has no lower bound and keeps a NULL id, which the builder then refuses.
    (False, True): " ({alias}user_id < %(hi)s OR {alias}user_id IS NULL)",
}


def _ranged_rows_sql(*, has_lo: bool, has_hi: bool) -> str:
    where = _RANGE[has_lo, has_hi]
    return _LIABILITY_ROWS_SELECT + _LIABILITIES_FROM.format(
        **_ROWS_PARAMS, b_range=" WHERE" + where.format(alias="holders."), w_range=" AND" + where.format(alias=""),
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
    session: AsyncSession, *, token_address: str, batch_rows: int = 16_384,
    key_range: tuple[uuid.UUID | None, uuid.UUID | None] | None = None,
) -> AsyncIterator[Sequence[tuple[bytes, int]]]:
    """The rows of :func:`stream_user_liabilities`, in batches of up to ``batch_rows``: each
    ``(user_id as 16 raw bytes, liability_sats)``, strictly ordered by user id.

    Args:
        key_range: ``(lo, hi)``: only the users with ``lo <= id < hi``; ``lo`` None: no lower
            bound, and a row without a user id (corrupt books, which the tree builder refuses) is
            in this range; ``hi`` None: no upper bound. None: all rows.

    Same caller contract (one open transaction while iterating); memory stays at one batch.

    Raises:
        psycopg.errors.NumericValueOutOfRange: a liability beyond BIGINT.
    """
    # A psycopg named cursor, fetching exactly ``batch_rows`` per round trip (SQLAlchemy's
    # buffered stream makes hundreds of small FETCHes for the same rows).
    conn = await session.connection()
    raw = (await conn.get_raw_connection()).driver_connection
    params: dict[str, object] = {
        "token": token_address, "external": str(EXTERNAL_HOLDERS_LEAF), "suspense": str(SUSPENSE_LEAF),
    }
    sql = _LIABILITY_ROWS_SQL
    if key_range is not None and key_range != (None, None):
        params["lo"], params["hi"] = key_range
        sql = _ranged_rows_sql(has_lo=key_range[0] is not None, has_hi=key_range[1] is not None)
    async with raw.cursor(name=f"liabilities_{uuid.uuid4().hex}") as cur:  # type: ignore[union-attr]
        await cur.execute(sql, params)
        while rows := await cur.fetchmany(batch_rows):
            yield rows


async def user_id_quantiles(session: AsyncSession, parts: int) -> list[uuid.UUID]:
    """``parts - 1`` user ids that cut the users into about equal key ranges, from the planner's
    statistics (``pg_stats`` histogram of ``ledger_accounts.user_id``, kept by ANALYZE and
    autovacuum); ``[]`` when there are none yet. Approximate: the ranges only share work out."""
    bounds = (await session.execute(text(
        "SELECT CAST(CAST(histogram_bounds AS text) AS uuid[]) FROM pg_stats "
        "WHERE schemaname = current_schema() AND tablename = 'ledger_accounts' AND attname = 'user_id'"
    ))).scalar()
    if not bounds or parts < 2:
        return []
    cuts = [bounds[len(bounds) * k // parts] for k in range(1, parts)]
    return sorted(set(cuts))


async def export_snapshot(session: AsyncSession) -> str:
    """The id of the session's transaction snapshot, for :func:`import_snapshot` (the exporting
    transaction must stay open while others import it)."""
    return str((await session.execute(text("SELECT pg_export_snapshot()"))).scalar_one())


async def import_snapshot(session: AsyncSession, snapshot_id: str) -> None:
    """Make the session's new REPEATABLE READ transaction see ``snapshot_id``'s data; must be
    its first statement.

    Raises:
        ValueError: not a snapshot id as ``pg_export_snapshot`` makes them.
    """
    if not _SNAPSHOT_ID.fullmatch(snapshot_id):
        raise ValueError("not a snapshot id")
    await session.execute(text(f"SET TRANSACTION SNAPSHOT '{snapshot_id}'"))


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
