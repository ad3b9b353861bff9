"""Reads and writes of ``chain_submissions`` (each in its own committed transaction: a stored
envelope must be durable before the network sees it)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db.models import ChainSubmission
from db.models.base import utcnow


async def get_by_key(sessions: async_sessionmaker[AsyncSession], *, idempotency_key: str) -> ChainSubmission | None:
    async with sessions() as session:
        return (
            await session.execute(select(ChainSubmission).where(ChainSubmission.idempotency_key == idempotency_key))
        ).scalar_one_or_none()


async def save_signed(
    sessions: async_sessionmaker[AsyncSession],
    *,
    idempotency_key: str,
    contract: str,
    function: str,
    tx_hash: str,
    envelope_xdr: str,
    sequence: int,
    max_time: int,
) -> None:
    """Record (or replace, after a provably dead one) the envelope about to be sent."""
    values = dict(
        tx_hash=tx_hash, envelope_xdr=envelope_xdr, sequence=sequence, max_time=max_time,
        status="signed", result=None, updated_at=utcnow(),
    )
    stmt = insert(ChainSubmission).values(idempotency_key=idempotency_key, contract=contract, function=function, **values)
    async with sessions() as session, session.begin():
        await session.execute(stmt.on_conflict_do_update(index_elements=["idempotency_key"], set_=values))


async def mark_final(
    sessions: async_sessionmaker[AsyncSession], *, idempotency_key: str, status: str, result: dict[str, Any]
) -> None:
    """Set ``succeeded`` or ``failed`` with the decoded result."""
    async with sessions() as session, session.begin():
        row = (
            await session.execute(
                select(ChainSubmission).where(ChainSubmission.idempotency_key == idempotency_key).with_for_update()
            )
        ).scalar_one()
        row.status, row.result, row.updated_at = status, result, utcnow()
