"""A scratch database with the books (migrated), for tests of the ledger and the guard that must
not share the session database's global totals."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from config.settings import load_settings
from db import migrate
from db.session import make_async_engine, make_sessionmaker
from tests.fixtures.postgres import create_database, drop_database


@pytest.fixture(scope="module")
def books_db_url():
    name = f"custody_books_{uuid.uuid4().hex[:10]}"
    url = create_database(name)
    migrate.upgrade(load_settings(database={"url": url}))
    yield url
    drop_database(name)


@pytest.fixture
async def books(books_db_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = make_async_engine(load_settings(database={"url": books_db_url}).database)
    yield make_sessionmaker(engine)
    await engine.dispose()


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
