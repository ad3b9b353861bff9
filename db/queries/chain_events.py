"""Contract events and the event monitor's cursor."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import ChainEvent, ChainSubmission, EventCursor, User
from db.models.base import utcnow


async def get_cursor(session: AsyncSession, *, name: str) -> EventCursor | None:
    return await session.get(EventCursor, name)


async def save_cursor(
    session: AsyncSession, *, name: str, cursor: str, last_ledger: int, latest_ledger: int, oldest_ledger: int
) -> None:
    values = {"cursor": cursor, "last_ledger": last_ledger, "latest_ledger": latest_ledger,
              "oldest_ledger": oldest_ledger, "updated_at": utcnow()}
    stmt = insert(EventCursor).values(name=name, **values)
    await session.execute(stmt.on_conflict_do_update(index_elements=["name"], set_=values))


async def insert_new(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> set[str]:
    """Insert events; return the ids that were not stored before (the dedupe: unique event id)."""
    if not rows:
        return set()
    stmt = insert(ChainEvent).values(list(rows)).on_conflict_do_nothing(index_elements=["id"]).returning(ChainEvent.id)
    return set((await session.execute(stmt)).scalars())


async def mark_applied(session: AsyncSession, *, event_ids: Sequence[str]) -> None:
    if event_ids:
        await session.execute(update(ChainEvent).where(ChainEvent.id.in_(event_ids)).values(applied=True))  # type: ignore[attr-defined]


async def engine_tx_hashes(session: AsyncSession, *, tx_hashes: Sequence[str]) -> set[str]:
    """Which of ``tx_hashes`` the engine signed (rows of ``chain_submissions``)."""
    if not tx_hashes:
        return set()
    stmt = select(ChainSubmission.tx_hash).where(ChainSubmission.tx_hash.in_(tx_hashes))  # type: ignore[union-attr]
    return {h for h in (await session.execute(stmt)).scalars() if h}


async def users_by_address(session: AsyncSession, *, addresses: Sequence[str]) -> dict[str, uuid.UUID]:
    if not addresses:
        return {}
    stmt = select(User.stellar_address, User.id).where(User.stellar_address.in_(addresses))  # type: ignore[union-attr]
    return {a: i for a, i in (await session.execute(stmt)).all() if a}
