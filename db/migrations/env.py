"""Alembic environment: target is ``SQLModel.metadata``; the URL comes from ``config``.

Run through ``custody db upgrade|downgrade|current|reset`` (see :mod:`db.migrate`), which passes
the settings' URL or an open connection in ``config.attributes``.
"""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

import db.models  # noqa: F401  (registers every table)
from config import load_settings
from db.session import make_sync_engine

target_metadata = SQLModel.metadata


def _configure(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        compare_server_default=True,
        transaction_per_migration=True,
    )


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    settings = context.config.attributes.get("settings") or load_settings()
    engine = make_sync_engine(settings.database)
    with engine.connect() as conn:
        _configure(conn)
        with context.begin_transaction():
            context.run_migrations()
        conn.commit()
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (SQL script) migrations are not supported; use custody db upgrade")
run_migrations_online()
