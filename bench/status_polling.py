"""Status-polling benchmark (issue 15): ``GET /api/integration/operations/{id}`` next to a bare
one-read endpoint of the same app, same process and same database pool. Not a test.

A fresh migrated PostgreSQL database is seeded with ``--users`` accounts, ``--operations-per-user``
deposits each and a stage history of six audit rows per operation (indexes see realistic sizes).
The API app runs in this process with its auth listener, called over ``httpx.ASGITransport`` as
``bench/deposits.py`` does (the load generator calls the app directly, so the figures are the
app's and Postgres's, not a socket's). ``--concurrency`` clients (default 16) each poll their own
user's operation with their own token, for ``--load-seconds`` per round; status and bare rounds
alternate (``--rounds``) so drift on a shared machine hits both alike:

* **status**: the real route: JWT validation, revocation check, account state and role, ownership,
  the operation and its stage history;
* **bare**: ``GET /bench/bare/{id}``, mounted only here: one indexed ``SELECT status`` of the
  operation by id through ``SessionDep`` (no auth), as in ``bench/deposits.py``;
* **status, cache off** (one round, for reference): the route with the auth cache disabled, i.e.
  what every request costs while the listener is reconnecting;
* both routes with **one client** (2 s each, for reference): a request's own latency. Under load
  the load generator and the app share one event loop, so a request waits for the other clients'
  requests and the p99 at 16 clients is about 16 times a request's CPU time, for the bare read too.

Needs PostgreSQL at ``TEST_PG_URL`` (default local trust auth), like the tests. Usage::

    python -m bench.status_polling [--concurrency 16] [--load-seconds 5] [--rounds 2]

The last line is ``RESULT poll_rps=… bare_rps=… p99_ms=…`` (p99 of the status route).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

os.environ.setdefault("APP_ENV", "test")

import httpx  # noqa: E402
from asgi_lifespan import LifespanManager  # noqa: E402
from fastapi import FastAPI  # noqa: E402
from sqlalchemy import text  # noqa: E402

from api.app import create_app  # noqa: E402
from api.auth.services import AuthServices  # noqa: E402
from api.deps import SessionDep  # noqa: E402
from api.state import AppState  # noqa: E402
from config.settings import Settings, load_settings  # noqa: E402
from db import migrate  # noqa: E402
from domain.roles import Role  # noqa: E402
from tests.fixtures.postgres import create_database, drop_database  # noqa: E402

STAGES = ("received", "verifying", "awaiting_confirmations", "screening", "minting", "completed")


@dataclass
class Figures:
    count: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)

    def add(self, other: Figures) -> None:
        self.count += other.count
        self.seconds += other.seconds
        self.latencies += other.latencies

    @property
    def rps(self) -> float:
        return self.count / self.seconds if self.seconds else 0.0

    def pct_ms(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return 1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


async def seed(settings: Settings, users: int, per_user: int) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """``users`` accounts with ``per_user`` completed deposits each and their audit rows; returns
    ``(user_id, newest operation id)`` of every account."""
    state = AppState.build(settings)
    try:
        async with state.sessions() as s, s.begin():
            await s.execute(text(
                "INSERT INTO users (id, email, password_hash) "
                "SELECT gen_random_uuid(), 'poll' || g || '@bench.example', 'x' FROM generate_series(1, :n) g"
            ), {"n": users})
            await s.execute(text(
                "INSERT INTO operations (id, user_id, operation_type, status, stage, amount, btc_tx_hash, outpoint, "
                "  workflow_id, idempotency_key, metadata, confirmations, required_confirmations, stellar_tx_hash, "
                "  created_at, updated_at, completed_at) "
                "SELECT gen_random_uuid(), u.id, 'deposit', 'completed', 'completed', 10000 + k, md5(u.id::text || k), "
                "  md5(u.id::text || k) || '\\:0', 'deposit-' || md5(u.id::text || k) || '\\:0', 'k-' || u.id || '-' || k, "
                "  jsonb_build_object('vout', 0, 'stellar_address', 'GBENCH', 'source', 'api'), 3, 3, "
                "  md5(k || u.id::text), now() - make_interval(mins => :per - k), now(), now() "
                "FROM users u CROSS JOIN generate_series(1, :per) k"
            ), {"per": per_user})
            await s.execute(text(
                "INSERT INTO audit_logs (action, resource_type, resource_id, new_values, created_at) "
                "SELECT 'operation.stage_changed', 'operation', o.id::text, "
                "  jsonb_build_object('stage', (CAST(:stages AS text[]))[i], 'status', "
                "    CASE WHEN i = 6 THEN 'completed' ELSE 'processing' END), o.created_at + make_interval(secs => i) "
                "FROM operations o CROSS JOIN generate_series(1, 6) i"
            ), {"stages": list(STAGES)})
        async with state.sessions() as s:
            await s.execute(text("ANALYZE"))
            rows = await s.execute(text(
                "SELECT DISTINCT ON (user_id) user_id, id FROM operations ORDER BY user_id, created_at DESC"
            ))
            return [(r.user_id, r.id) for r in rows]
    finally:
        await state.close()


def add_bare_route(app: FastAPI) -> None:
    """``GET /bench/bare/{id}``: one indexed read of ``operations`` through the same app and pool."""

    @app.get("/bench/bare/{operation_id}")
    async def bare(operation_id: uuid.UUID, session: SessionDep) -> dict[str, str]:
        row = (await session.execute(text("SELECT status FROM operations WHERE id = :id"), {"id": operation_id})).one()
        return {"status": row[0]}


async def load(call: Callable[[int], Awaitable[httpx.Response]], seconds: float, concurrency: int) -> Figures:
    """``concurrency`` clients calling ``call(client_index)`` back to back for ``seconds``."""
    latencies: list[float] = []
    deadline = time.monotonic() + seconds

    async def client(i: int) -> None:
        while time.monotonic() < deadline:
            t0 = time.monotonic()
            response = await call(i)
            if response.status_code != 200:
                raise RuntimeError(f"{response.request.url}: {response.status_code} {response.text[:200]}")
            latencies.append(time.monotonic() - t0)

    started = time.monotonic()
    await asyncio.gather(*(client(i) for i in range(concurrency)))
    return Figures(len(latencies), time.monotonic() - started, latencies)


async def main(args: argparse.Namespace) -> None:
    db_name = f"custody_bench_{uuid.uuid4().hex[:10]}"
    url = create_database(db_name)
    try:
        # The development pool (10 + 10 overflow), not the test one (3 + 12, overflow closed on return).
        settings = load_settings(database={"url": url, "pool_size": 10, "max_overflow": 10},
                                 logging={"level": "WARNING"})
        migrate.upgrade(settings)
        accounts = await seed(settings, args.users, args.operations_per_user)
        tokens = AuthServices.from_settings(settings).tokens
        clients = accounts[: args.concurrency]
        headers = [{"Authorization": f"Bearer {tokens.issue(user_id=u, role=Role.USER).token}"} for u, _ in clients]
        print(f"{args.users} users x {args.operations_per_user} operations, 6 audit rows each; "
              f"{args.concurrency} clients, {args.rounds} x {args.load_seconds:.0f} s per route")
        status, bare, uncached, solo_status, solo_bare = Figures(), Figures(), Figures(), Figures(), Figures()
        for cache_on, rounds in ((True, args.rounds), (False, 1)):
            app_settings = settings if cache_on else settings.model_copy(
                update={"auth": settings.auth.model_copy(update={"cache_max_tokens": 0})})
            state = AppState.build(app_settings)
            app = create_app(app_settings, state=state)
            add_bare_route(app)
            try:
                async with LifespanManager(app), httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=app), base_url="http://bench"
                ) as api:
                    if cache_on and not await app.state.auth_listener.wait_live():
                        raise RuntimeError("the auth listener did not come up")

                    def poll(i: int) -> Awaitable[httpx.Response]:
                        return api.get(f"/api/integration/operations/{clients[i][1]}", headers=headers[i])

                    def read_bare(i: int) -> Awaitable[httpx.Response]:
                        return api.get(f"/bench/bare/{clients[i][1]}")

                    await load(poll, 1.0, args.concurrency)  # warm-up: pool, caches, compiled statements
                    await load(read_bare, 1.0, args.concurrency)
                    for _ in range(rounds):
                        if cache_on:
                            status.add(await load(poll, args.load_seconds, args.concurrency))
                            bare.add(await load(read_bare, args.load_seconds, args.concurrency))
                        else:
                            uncached.add(await load(poll, args.load_seconds, args.concurrency))
                    if cache_on:  # one client: the latency of a request when nothing queues before it
                        solo_status.add(await load(poll, 2.0, 1))
                        solo_bare.add(await load(read_bare, 2.0, 1))
            finally:
                await state.close()
    finally:
        drop_database(db_name)

    print(f"\n{'route':<34}{'requests/s':>12}{'p50':>10}{'p99':>10}")
    for name, f in (("GET /operations/{id}", status), ("bare indexed read", bare),
                    ("GET /operations/{id}, cache off", uncached),
                    ("GET /operations/{id}, 1 client", solo_status), ("bare indexed read, 1 client", solo_bare)):
        print(f"{name:<34}{f.rps:>12.0f}{f.pct_ms(0.5):>8.1f}ms{f.pct_ms(0.99):>8.1f}ms")
    print(f"{'ratio status / bare':<34}{status.rps / bare.rps:>11.3f}x   (goal >= 0.8x, p99 < 20 ms)")
    print(f"RESULT poll_rps={status.rps:.0f} bare_rps={bare.rps:.0f} p99_ms={status.pct_ms(0.99):.1f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=2_000)
    parser.add_argument("--operations-per-user", type=int, default=10)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--load-seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=2)
    asyncio.run(main(parser.parse_args()))
