"""Engines and sessions. Async for the API and activities; sync only for alembic and CLI tools."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import Engine, create_engine
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from config.settings import DatabaseSettings


def make_async_engine(db: DatabaseSettings) -> AsyncEngine:
    """A pooled async engine (psycopg 3) that checks connections before use."""
    return create_async_engine(
        db.url,
        pool_size=db.pool_size,
        max_overflow=db.max_overflow,
        pool_pre_ping=True,
        connect_args={"connect_timeout": db.connect_timeout_seconds},
    )


def make_sync_engine(db: DatabaseSettings) -> Engine:
    return create_engine(db.url, connect_args={"connect_timeout": db.connect_timeout_seconds})


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


@asynccontextmanager
async def transaction(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """One session in one transaction: commit on success, roll back on any error."""
    async with sessions() as session, session.begin():
        yield session
