"""FastAPI dependencies, as ``Annotated`` aliases so route signatures read as documentation.

Dependencies that do no I/O are still ``async def``: FastAPI runs a plain ``def`` dependency in
its thread pool, a thread hand-off per dependency per request.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from api.state import AppState
from config.settings import Settings


async def get_state(request: Request) -> AppState:
    return request.app.state.custody


async def get_session(state: Annotated[AppState, Depends(get_state)]) -> AsyncIterator[AsyncSession]:
    """A session in one transaction: committed when the handler returns, rolled back if it raises."""
    async with state.sessions() as session, session.begin():
        yield session


@asynccontextmanager
async def read_connection(state: AppState) -> AsyncIterator[AsyncConnection]:
    """A pooled connection in autocommit, for reads of one statement each.

    No session and no transaction: a single SELECT is atomic by itself, and skipping ``BEGIN`` and
    the rollback at release saves two round trips per request on the status-read path.
    """
    async with state.engine.connect() as conn:
        yield await conn.execution_options(isolation_level="AUTOCOMMIT")


async def get_settings(state: Annotated[AppState, Depends(get_state)]) -> Settings:
    return state.settings


StateDep = Annotated[AppState, Depends(get_state)]
#: ``scope="function"``: the transaction commits *before* the response is sent, so a client that
#: reads right after a 2xx sees what it was told (FastAPI's default would commit afterwards).
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
SettingsDep = Annotated[Settings, Depends(get_settings)]
