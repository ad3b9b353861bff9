"""A scratch database with the books (migrated), for tests of the ledger and the guard that must
not share the session database's global totals."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.fixtures.postgres import migrated_database, sessions_for


@pytest.fixture(scope="module")
def books_db_url() -> Iterator[str]:
    with migrated_database("custody_books") as url:
        yield url


@pytest.fixture
async def books(books_db_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    async with sessions_for(books_db_url) as sessions:
        yield sessions


async def make_user(sessions) -> str:
    async with sessions() as session, session.begin():
        user_id = (await session.execute(text(
            "INSERT INTO users (email, password_hash) VALUES (:e, 'x') RETURNING id"), {"e": f"{uuid.uuid4().hex}@x.io"}
        )).scalar_one()
    return str(user_id)


@pytest.fixture(scope="package")
async def stack(temporal_env, tmp_path_factory):
    """The books' own whole stack (:mod:`tests.fixtures.stack`), shared by the package's tests."""
    from tests.fixtures.stack import isolated_stack

    async with isolated_stack(temporal_env, tmp_path_factory) as built:
        yield built
