"""Reads and writes of ``chain_submissions`` (each in its own committed transaction: a stored
envelope must be durable before the network sees it). An envelope built on a channel account
is bound to that channel in the same transaction (``db.queries.soroban_channels``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db.models import ChainSubmission
from db.models.base import utcnow
from db.queries.soroban_channels import bind_envelope


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
    source_account: str | None = None,
    lease_token: str | None = None,
    auth_expiration_ledger: int = 0,
) -> bool:
    """Record (or replace, after a provably dead one) the envelope about to be sent.

    Args:
        source_account, lease_token: with a lease token, the envelope is built on channel
            ``source_account`` and is bound to it in the same transaction.
        auth_expiration_ledger: last ledger its auth entries are valid (kept on the channel).

    Returns:
        False when the channel lease was lost: nothing is stored and nothing may be sent.
    """
    values = dict(
        tx_hash=tx_hash, envelope_xdr=envelope_xdr, sequence=sequence, max_time=max_time,
        source_account=source_account, status="signed", result=None, updated_at=utcnow(),
    )
    stmt = insert(ChainSubmission).values(idempotency_key=idempotency_key, contract=contract, function=function, **values)
    try:
        async with sessions() as session, session.begin():
            if lease_token is not None and source_account is not None:
                bound = await bind_envelope(
                    session, public_key=source_account, token=lease_token, key=idempotency_key, tx_hash=tx_hash,
                    sequence=sequence, max_time=max_time, auth_expiration_ledger=auth_expiration_ledger,
                )
                if not bound:
                    raise _LeaseLost
            await session.execute(stmt.on_conflict_do_update(index_elements=["idempotency_key"], set_=values))
    except _LeaseLost:
        return False  # rolled back: neither the envelope nor the binding was written
    return True


class _LeaseLost(Exception):
    """Internal: abort the store transaction when the channel lease is gone."""


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
