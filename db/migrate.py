"""Schema management behind ``custody db``: alembic upgrade/downgrade/current, reset, backup."""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text

from config.settings import Settings
from db.session import make_sync_engine

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


class ResetRefused(Exception):
    """``reset`` was asked for in production."""


def alembic_config(settings: Settings) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["settings"] = settings
    return cfg


def upgrade(settings: Settings, revision: str = "heads") -> None:
    """Apply migrations up to ``revision`` (default: every head, so parallel branches all apply)."""
    command.upgrade(alembic_config(settings), revision)


def downgrade(settings: Settings, revision: str = "-1") -> None:
    command.downgrade(alembic_config(settings), revision)


def current(settings: Settings) -> set[str]:
    """The revisions the database is at (empty when unmigrated)."""
    engine = make_sync_engine(settings.database)
    try:
        with engine.connect() as conn:
            return set(MigrationContext.configure(conn).get_current_heads())
    finally:
        engine.dispose()


def heads() -> set[str]:
    """Head revisions of the migration scripts."""
    return set(ScriptDirectory.from_config(alembic_config_for_scripts()).get_heads())


def alembic_config_for_scripts() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


def reset(settings: Settings) -> None:
    """Drop every object in the ``public`` schema and migrate up again.

    Raises:
        ResetRefused: in production, always.
    """
    if settings.app_env == "production":
        raise ResetRefused("db reset is refused in production")
    engine = make_sync_engine(settings.database)
    try:
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    finally:
        engine.dispose()
    upgrade(settings)


def backup(settings: Settings, out_dir: Path | None = None) -> Path:
    """Write a ``pg_dump`` custom-format file (``-Fc``) and return its path.

    Raises:
        FileNotFoundError: no ``pg_dump`` on PATH.
        subprocess.CalledProcessError: pg_dump failed (its stderr is passed through).
    """
    pg_dump = shutil.which("pg_dump")
    if pg_dump is None:
        raise FileNotFoundError("pg_dump not found on PATH (install the PostgreSQL client)")
    target_dir = out_dir or settings.database.backup_dir
    target_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = target_dir / f"custody-{stamp}.dump"
    subprocess.run(
        [pg_dump, "--format=custom", "--no-owner", f"--file={path}", settings.database.libpq_url()],
        check=True,
    )
    return path
