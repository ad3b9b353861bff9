"""The one ``LISTEN auth_changes`` connection of an API process, feeding :class:`AuthCache`.

The cache is trusted only while this connection is known to be alive: it is attached after
``LISTEN`` has succeeded and detached (emptied, bypassed) the moment the connection fails or a
heartbeat goes unanswered. Notifications sent while it was down are lost, which is why attaching
starts from an empty cache. The loop reconnects by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import psycopg

from api.auth.cache import AuthCache

log = logging.getLogger(__name__)
CHANNEL = "auth_changes"
#: ``pg_stat_activity.application_name`` of the listening connections (operators can find them).
APPLICATION_NAME = "custody-auth-listener"


class AuthChangeListener:
    """Runs the listening task for ``cache``.

    Args:
        libpq_url: the database (``postgresql://…``, no SQLAlchemy driver suffix).
        cache: the process's cache, attached and detached by this listener.
        heartbeat_seconds: a connection silent for this long is probed with ``SELECT 1``; a probe
            unanswered within the same time detaches the cache (a half-open TCP connection would
            otherwise look idle forever).
        reconnect_seconds: pause between connection attempts.
    """

    def __init__(
        self, libpq_url: str, cache: AuthCache, *, heartbeat_seconds: float = 5.0, reconnect_seconds: float = 1.0
    ) -> None:
        self._url = libpq_url
        self._cache = cache
        self._heartbeat = heartbeat_seconds
        self._reconnect = reconnect_seconds
        self._task: asyncio.Task[None] | None = None
        #: Server process id of the current listening connection (None while down), for operators and tests.
        self.backend_pid: int | None = None

    def start(self) -> None:
        """Start listening in the background (idempotent)."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="auth-change-listener")

    async def wait_live(self, timeout: float = 10.0) -> bool:
        """Wait until the cache is attached; False after ``timeout`` seconds."""
        deadline = asyncio.get_running_loop().time() + timeout
        while not self._cache.live:
            if asyncio.get_running_loop().time() > deadline:
                return False
            await asyncio.sleep(0.01)
        return True

    async def close(self) -> None:
        """Stop listening; the cache is detached."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._cache.detach()

    async def _run(self) -> None:
        while True:
            try:
                await self._listen_once()
            except (psycopg.Error, OSError, TimeoutError) as exc:
                log.warning("auth change listener lost its connection (%s); cache off until it is back",
                            type(exc).__name__)
            finally:
                self._cache.detach()
                self.backend_pid = None
            await asyncio.sleep(self._reconnect)

    async def _listen_once(self) -> None:
        async with await psycopg.AsyncConnection.connect(
            self._url, autocommit=True, connect_timeout=max(1, int(self._heartbeat)), application_name=APPLICATION_NAME
        ) as conn:
            await conn.execute(f"LISTEN {CHANNEL}")
            self.backend_pid = conn.info.backend_pid
            self._cache.attach()
            while True:
                async for notice in conn.notifies(timeout=self._heartbeat):
                    self._cache.handle(notice.payload)
                # Quiet for a heartbeat: prove the connection still answers before trusting on.
                await asyncio.wait_for(conn.execute("SELECT 1"), self._heartbeat)
                if conn.closed:
                    raise psycopg.OperationalError("listening connection closed")
