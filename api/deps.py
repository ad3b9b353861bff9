"""FastAPI dependencies, as ``Annotated`` aliases so route signatures read as documentation.

Dependencies that do no I/O are still ``async def``: FastAPI runs a plain ``def`` dependency in
its thread pool, a thread hand-off per dependency per request.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Header, Request
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from config.settings import Settings
from services.state import AppState


async def get_state(request: Request) -> AppState:
    return request.app.state.custody


async def get_session(state: Annotated[AppState, Depends(get_state)]) -> AsyncIterator[AsyncSession]:
    """A session in one transaction: committed when the handler returns, rolled back if it raises."""
    async with state.sessions() as session, session.begin():
        yield session


class ReadConnection:
    """A pooled connection in autocommit for single-statement reads, checked out on first use.

    No session and no transaction: one SELECT is atomic by itself, and skipping ``BEGIN`` and the
    rollback at release saves two round trips per request on the status-read path. Checked out
    lazily, so a request refused before its first read (bad token, cache hit then 401) never takes
    one; shared by the request's dependencies and handler, so it takes at most one.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._conn: AsyncConnection | None = None

    async def get(self) -> AsyncConnection:
        """The connection, checked out of the pool on the first call.

        Raises:
            sqlalchemy.exc.OperationalError: the pool could not connect to Postgres.
        """
        if self._conn is None:
            conn = self._engine.connect()
            await conn.start()
            self._conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        return self._conn

    async def close(self) -> None:
        """Return the connection to the pool, if one was taken."""
        if self._conn is not None:
            conn, self._conn = self._conn, None
            await conn.close()


async def get_read_connection(state: Annotated[AppState, Depends(get_state)]) -> AsyncIterator[ReadConnection]:
    """A :class:`ReadConnection` on the app's pool for one request, returned when it ends."""
    reader = ReadConnection(state.engine)
    try:
        yield reader
    finally:
        await reader.close()


async def get_settings(state: Annotated[AppState, Depends(get_state)]) -> Settings:
    return state.settings


StateDep = Annotated[AppState, Depends(get_state)]
#: ``scope="function"``: the transaction commits *before* the response is sent, so a client that
#: reads right after a 2xx sees what it was told (FastAPI's default would commit afterwards).
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
SettingsDep = Annotated[Settings, Depends(get_settings)]
#: Returned to the pool before the response is sent, like ``SessionDep``.
ReadConnectionDep = Annotated[ReadConnection, Depends(get_read_connection, scope="function")]
#: The optional ``Idempotency-Key`` header of a deposit or withdrawal request (at most 200 characters).
IdempotencyKeyHeader = Annotated[str | None, Header(alias="Idempotency-Key", max_length=200)]
