"""GET /api/integration/operations/{id} through the auth cache: two API apps (two processes' worth
of pools, caches and listeners) against one database, revocations and account changes seen by
both within the notify latency, the listener's loss, bounded caches."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client

from api.app import create_app
from api.auth.cache import AuthCache
from api.auth.listener import AuthChangeListener
from api.schemas.operations import OperationOut, StageChange
from config.settings import Settings
from db.audit import record_audit
from db.models import Operation
from db.queries import operations
from domain.roles import Role
from services.state import AppState
from tests.fixtures.identity import Account, MakeUser
from tests.fixtures.waiting import eventually

#: Longest a NOTIFY may take to reach the other app here (a loaded 2-core machine); it is
#: milliseconds when idle. Tests wait *for the notification*, never a fixed time.
NOTIFY_TIMEOUT_SECONDS = 10.0


@dataclass
class Replica:
    """One API app with its own pool, auth cache and listener, as one API process has."""

    app: FastAPI
    client: httpx.AsyncClient

    @property
    def cache(self) -> AuthCache:
        return self.app.state.auth_cache

    @property
    def listener(self) -> AuthChangeListener:
        return self.app.state.auth_listener

    async def status(self, op_id: uuid.UUID, account: Account | dict[str, str]) -> int:
        headers = account.headers if isinstance(account, Account) else account
        return (await self.client.get(f"/api/integration/operations/{op_id}", headers=headers)).status_code

    async def notified(self, before: int) -> None:
        """Wait until this replica has handled a notification after the count ``before``."""
        await eventually(lambda: self.cache.notifications > before, timeout=NOTIFY_TIMEOUT_SECONDS, interval=0.005,
                         what="an auth_changes notification")


@pytest.fixture
async def replicas(settings: Settings, temporal_client: Client) -> AsyncIterator[callable]:
    """``await replicas(n, settings=None, reconnect_seconds=1.0)``: n fresh API apps, each live."""
    async with AsyncExitStack() as stack:

        async def make(n: int = 2, *, app_settings: Settings | None = None, reconnect_seconds: float = 1.0):
            made = []
            for _ in range(n):
                s = app_settings or settings
                state = AppState.build(s, temporal_client=temporal_client)
                stack.push_async_callback(state.close)
                app = create_app(s, state=state)
                if app.state.auth_listener is not None:
                    app.state.auth_listener = AuthChangeListener(
                        s.database.libpq_url(), app.state.auth_cache, heartbeat_seconds=1.0,
                        reconnect_seconds=reconnect_seconds)
                await stack.enter_async_context(LifespanManager(app))
                client = await stack.enter_async_context(
                    httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver"))
                if app.state.auth_listener is not None:
                    assert await app.state.auth_listener.wait_live()
                made.append(Replica(app, client))
            return made

        yield make


async def make_operation(sessions: async_sessionmaker[AsyncSession], user_id: uuid.UUID) -> uuid.UUID:
    """A deposit of ``user_id`` with three recorded stage changes (one repeated, as depth updates are)."""
    op = Operation(user_id=user_id, operation_type="deposit", status="processing", stage="received", amount=12_345,
                   btc_tx_hash="ab" * 32, outpoint=f"{uuid.uuid4().hex}:1", meta={"vout": 1, "stellar_address": "GX"},
                   confirmations=1, required_confirmations=3)
    async with sessions() as session, session.begin():
        session.add(op)
        await session.flush()
        for stage in ("received", "awaiting_confirmations", "awaiting_confirmations", "minting"):
            record_audit(session, action="deposit.stage", resource_type="operation", resource_id=op.id,
                         new_values={**operations.snapshot(op), "stage": stage})
            await session.flush()
    return op.id


async def sql(sessions: async_sessionmaker[AsyncSession], statement: str, **params) -> None:
    async with sessions() as session, session.begin():
        await session.execute(text(statement), params)


class TestRead:
    async def test_valid_shows_what_the_projection_and_audit_rows_say(self, replicas, make_user: MakeUser, sessions) -> None:
        (a,) = await replicas(1)
        user = await make_user()
        op_id = await make_operation(sessions, user.id)
        resp = await a.client.get(f"/api/integration/operations/{op_id}", headers=user.headers)
        assert resp.status_code == 200
        async with sessions() as session:  # the same read through the ORM, as the route did before
            op = await operations.get_for_user(session, operation_id=op_id, user_id=user.id)
            history = await operations.stage_history(session, operation_id=op_id)
        expected = OperationOut.of(op).model_copy(
            update={"stages": [StageChange(stage=s, status=st, at=at) for s, st, at in history]})
        assert resp.json() == expected.model_dump(mode="json")
        assert [s["stage"] for s in resp.json()["stages"]] == ["received", "awaiting_confirmations", "minting"]

    async def test_anonymous_and_bad_tokens_are_401(self, replicas, make_user: MakeUser, sessions) -> None:
        (a,) = await replicas(1)
        op_id = await make_operation(sessions, (await make_user()).id)
        assert await a.status(op_id, {}) == 401
        assert await a.status(op_id, {"Authorization": "Bearer not.a.jwt"}) == 401

    async def test_not_yours_and_absent_are_404(self, replicas, make_user: MakeUser, sessions) -> None:
        (a,) = await replicas(1)
        owner, other = await make_user(), await make_user()
        op_id = await make_operation(sessions, owner.id)
        assert await a.status(op_id, other) == 404
        assert await a.status(uuid.uuid4(), owner) == 404
        assert await a.status(op_id, owner) == 200


class TestRevocation:
    async def test_logout_on_one_replica_is_refused_on_both(self, replicas, make_user: MakeUser, sessions) -> None:
        a, b = await replicas(2)
        user = await make_user()
        op_id = await make_operation(sessions, user.id)
        assert await a.status(op_id, user) == 200 and await b.status(op_id, user) == 200  # both caches hold it
        seen = b.cache.notifications
        assert (await a.client.post("/api/auth/logout", headers=user.headers)).status_code == 204
        assert await a.status(op_id, user) == 401  # the replica that logged out: at once
        await b.notified(seen)
        assert b.cache.revoked(_jti(a, user)) is True
        for _ in range(5):
            assert await b.status(op_id, user) == 401

    async def test_a_revocation_is_never_accepted_after_its_notification(
        self, replicas, make_user: MakeUser, sessions, settings: Settings
    ) -> None:
        # Caches of one entry and two callers polling in turn: every request misses and fills, so
        # fills are in flight when the revocation lands (the race the generation counter closes).
        tiny = settings.model_copy(update={"auth": settings.auth.model_copy(
            update={"cache_max_tokens": 1, "cache_max_accounts": 1})})
        (b,) = await replicas(1, app_settings=tiny)
        victim, bystander = await make_user(), await make_user()
        ops = {victim.id: await make_operation(sessions, victim.id), bystander.id: await make_operation(sessions, bystander.id)}
        jti = _jti(b, victim)
        delivered_at: list[float] = []
        outcomes: list[tuple[float, int]] = []
        stop = asyncio.Event()

        async def poll(account: Account) -> None:
            while not stop.is_set():
                started = time.monotonic()
                code = await b.status(ops[account.id], account)
                if account is victim:
                    outcomes.append((started, code))
                # A refusal answered from the cache does no I/O, so over ASGITransport nothing
                # would ever yield to the loop (a socket server would).
                await asyncio.sleep(0)

        async def watch(before: int) -> None:
            await b.notified(before)
            delivered_at.append(time.monotonic())

        pollers = [asyncio.create_task(poll(acc)) for acc in (victim, bystander) * 4]
        try:
            # The victim is served from the cache before the revocation …
            await eventually(lambda: any(code == 200 for _, code in outcomes), interval=0.01,
                             what="a 200 for the victim before the revocation")
            watcher = asyncio.create_task(watch(b.cache.notifications))
            await sql(sessions, "INSERT INTO revoked_tokens (jti, user_id, expires_at) VALUES (:j, :u, :e)",
                      j=jti, u=victim.id, e=datetime.now(UTC) + timedelta(hours=1))
            await watcher
            # … and polled again after it was delivered, by every poller.
            await eventually(lambda: sum(started > delivered_at[0] for started, _ in outcomes) >= 20, interval=0.01,
                             what="the victim's requests after the notification")
        finally:
            stop.set()
            await asyncio.gather(*pollers)
        after = [code for started, code in outcomes if started > delivered_at[0]]
        assert any(code == 200 for started, code in outcomes if started < delivered_at[0])
        assert after and set(after) == {401}

    async def test_deactivation_is_refused_on_the_other_replica(self, replicas, make_user: MakeUser, sessions) -> None:
        a, b = await replicas(2)
        admin, user = await make_user(Role.ADMIN), await make_user()
        op_id = await make_operation(sessions, user.id)
        assert await b.status(op_id, user) == 200
        seen = b.cache.notifications
        assert (await a.client.post(f"/api/admin/users/{user.id}/deactivate", headers=admin.headers)).status_code == 200
        assert await a.status(op_id, user) == 401
        await b.notified(seen)
        assert await b.status(op_id, user) == 401

    async def test_role_change_is_seen(self, replicas, make_user: MakeUser, sessions, auth_services) -> None:
        a, b = await replicas(2)
        admin, user = await make_user(Role.ADMIN), await make_user()
        op_id = await make_operation(sessions, user.id)
        assert await b.status(op_id, user) == 200
        seen = b.cache.notifications
        resp = await a.client.put(f"/api/admin/users/{user.id}/role", headers=admin.headers, json={"role": "operator"})
        assert resp.status_code == 200
        await b.notified(seen)
        assert await b.status(op_id, user) == 401  # the token says "user"
        fresh = {"Authorization": f"Bearer {auth_services.tokens.issue(user_id=user.id, role=Role.OPERATOR).token}"}
        assert await b.status(op_id, fresh) == 200

    @pytest.mark.parametrize("change", [
        # a password change (hash replaced, older tokens cut off), as any writer would make it
        "UPDATE users SET password_hash = 'x', tokens_valid_after = now() + interval '2 seconds' WHERE id = :u",
        "UPDATE users SET is_active = false WHERE id = :u",  # e.g. from psql or the CLI
    ])
    async def test_changes_from_outside_the_api_are_seen(self, replicas, make_user: MakeUser, sessions, change) -> None:
        a, b = await replicas(2)
        user = await make_user()
        op_id = await make_operation(sessions, user.id)
        assert await a.status(op_id, user) == 200 and await b.status(op_id, user) == 200
        seen_a, seen_b = a.cache.notifications, b.cache.notifications
        await sql(sessions, change, u=user.id)
        await a.notified(seen_a)
        await b.notified(seen_b)
        assert await a.status(op_id, user) == 401 and await b.status(op_id, user) == 401


class TestListenerLoss:
    async def test_falls_back_to_postgres_until_it_is_back(self, replicas, make_user: MakeUser, sessions) -> None:
        (b,) = await replicas(1, reconnect_seconds=2.0)
        victim, bystander = await make_user(), await make_user()
        victim_op, bystander_op = await make_operation(sessions, victim.id), await make_operation(sessions, bystander.id)
        assert await b.status(victim_op, victim) == 200 and b.cache.revoked(_jti(b, victim)) is False
        pid = b.listener.backend_pid
        await sql(sessions, "SELECT pg_terminate_backend(:p)", p=pid)
        await eventually(lambda: not b.cache.live, timeout=NOTIFY_TIMEOUT_SECONDS, interval=0.005,
                         what="the listener noticing its connection died")
        assert b.cache.sizes() == (0, 0)
        # Revoked while nobody listens: the notification is lost, the refusal must not be.
        await sql(sessions, "INSERT INTO revoked_tokens (jti, user_id, expires_at) VALUES (:j, :u, :e)",
                  j=_jti(b, victim), u=victim.id, e=datetime.now(UTC) + timedelta(hours=1))
        assert await b.status(victim_op, victim) == 401
        assert await b.status(bystander_op, bystander) == 200
        assert not b.cache.live and b.cache.sizes() == (0, 0)  # answered from Postgres, nothing kept
        assert await b.listener.wait_live()
        assert b.listener.backend_pid not in (None, pid)
        assert await b.status(bystander_op, bystander) == 200 and b.cache.sizes() == (1, 1)
        assert await b.status(victim_op, victim) == 401


class TestBounded:
    async def test_caches_hold_at_most_their_configured_size(self, replicas, make_user: MakeUser, sessions, settings) -> None:
        small = settings.model_copy(update={"auth": settings.auth.model_copy(
            update={"cache_max_tokens": 3, "cache_max_accounts": 2})})
        (a,) = await replicas(1, app_settings=small)
        users = [await make_user() for _ in range(5)]
        for user in users:
            op_id = await make_operation(sessions, user.id)
            assert await a.status(op_id, user) == 200
            assert await a.status(op_id, user) == 200
        tokens, accounts = a.cache.sizes()
        assert tokens == 3 and accounts == 2


def _jti(replica: Replica, account: Account) -> str:
    return replica.app.state.auth.tokens.decode(account.token).jti
