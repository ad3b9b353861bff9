"""Deposit-address assignment on real Postgres: one address per user, distinct across users, race-free.

A database of its own: this module's wallet is not the session's, and the session's block scans
watch look-ahead addresses of the session's wallet at the same derivation paths."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db.queries.deposit_addresses import assign_deposit_address, get_by_address
from domain.bitcoin_address import Network, parse_address
from tests.fixtures.postgres import migrated_database, sessions_for


@pytest.fixture(scope="module")
def addresses_db_url() -> Iterator[str]:
    with migrated_database("custody_addresses") as url:
        yield url


@pytest.fixture
async def sessions(addresses_db_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    async with sessions_for(addresses_db_url) as sessions:
        yield sessions


async def _create_users(sessions, count: int) -> list[uuid.UUID]:
    ids = [uuid.uuid4() for _ in range(count)]
    async with sessions() as session, session.begin():
        for user_id in ids:
            await session.execute(
                text("INSERT INTO users (id, email, password_hash) VALUES (:id, :email, 'x')"),
                {"id": user_id, "email": f"{user_id}@example.test"},
            )
    return ids


async def _assign(sessions, wallet, user_id: uuid.UUID):
    async with sessions() as session, session.begin():
        return await assign_deposit_address(session, user_id=user_id, derive_address=wallet.receive_address)


async def test_fifty_concurrent_users_get_fifty_distinct_addresses(sessions, wallet) -> None:
    users = await _create_users(sessions, 50)
    rows = await asyncio.gather(*(_assign(sessions, wallet, u) for u in users))
    assert len({r.address for r in rows}) == 50
    assert len({r.derivation_index for r in rows}) == 50
    for row in rows:
        assert row.address == wallet.receive_address(row.derivation_index)
        parse_address(row.address, Network.REGTEST)


async def test_repeated_concurrent_requests_by_one_user_give_one_address(sessions, wallet) -> None:
    (user,) = await _create_users(sessions, 1)
    rows = await asyncio.gather(*(_assign(sessions, wallet, user) for _ in range(20)))
    assert len({(r.id, r.address, r.derivation_index) for r in rows}) == 1
    again = await _assign(sessions, wallet, user)
    assert again.address == rows[0].address
    async with sessions() as session:
        owner = await get_by_address(session, address=again.address)
    assert owner is not None and owner.user_id == user
