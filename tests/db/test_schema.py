"""Schema: migrations round-trip, models match migrations, seed columns exist, CHECKs bite."""

from __future__ import annotations

import uuid

import psycopg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlmodel import SQLModel

import db.models  # noqa: F401
from config.settings import load_settings
from db import migrate
from db.session import make_sync_engine
from tests.fixtures.postgres import create_database, drop_database

# Column names of the seed's five tables (docs/SEED.md "Database Schema").
SEED_COLUMNS = {
    "users": {"id", "email", "password_hash", "stellar_address", "role", "is_active", "created_at", "updated_at"},
    "kyc_records": {
        "id", "user_id", "tier", "status", "verification_data", "approved_at", "expires_at", "created_at", "updated_at",
    },
    "token_balances": {
        "id", "user_id", "token_address", "balance", "reserved_balance", "last_updated", "created_at",
    },
    "operations": {
        "id", "user_id", "operation_type", "status", "amount", "token_address", "btc_tx_hash", "stellar_tx_hash",
        "metadata", "created_at", "completed_at",
        # docs/DESIGN.md §4 additions
        "workflow_id", "idempotency_key", "stage", "error", "updated_at",
    },
    "audit_logs": {
        "id", "user_id", "action", "resource_type", "resource_id", "old_values", "new_values", "ip_address",
        "user_agent", "created_at",
    },
}
SEED_TYPES = {
    ("users", "id"): "uuid",
    ("users", "created_at"): "timestamp with time zone",
    ("kyc_records", "verification_data"): "jsonb",
    ("token_balances", "balance"): "bigint",
    ("token_balances", "reserved_balance"): "bigint",
    ("operations", "amount"): "bigint",
    ("operations", "metadata"): "jsonb",
    ("audit_logs", "ip_address"): "inet",
    ("audit_logs", "user_agent"): "text",
}


@pytest.fixture
def scratch_db():
    name = f"custody_scratch_{uuid.uuid4().hex[:10]}"
    url = create_database(name)
    yield load_settings(database={"url": url})
    drop_database(name)


def test_migrations_go_up_down_and_up_again(scratch_db) -> None:
    migrate.upgrade(scratch_db)
    assert migrate.current(scratch_db) == migrate.heads()
    migrate.downgrade(scratch_db, "base")
    assert migrate.current(scratch_db) == set()
    with psycopg.connect(scratch_db.database.libpq_url()) as conn:
        tables = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema='public' AND table_name <> 'alembic_version'"
        ).fetchall()
    assert tables == []
    migrate.upgrade(scratch_db)
    assert migrate.current(scratch_db) == migrate.heads()


def test_models_and_migrations_do_not_drift(settings) -> None:
    engine = make_sync_engine(settings.database)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": True})
        diff = compare_metadata(context, SQLModel.metadata)
    engine.dispose()
    assert diff == []


def test_seed_tables_have_the_seed_columns_and_types(database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT table_name, column_name, data_type FROM information_schema.columns WHERE table_schema='public'"
        ).fetchall()
    columns: dict[str, set[str]] = {}
    types = {}
    for table, column, data_type in rows:
        columns.setdefault(table, set()).add(column)
        types[(table, column)] = data_type
    for table, expected in SEED_COLUMNS.items():
        assert expected <= columns[table], f"{table} lacks {expected - columns[table]}"
    for key, data_type in SEED_TYPES.items():
        assert types[key] == data_type, key


def test_uuid_keys_default_to_gen_random_uuid(database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        defaults = conn.execute(
            "SELECT table_name, column_default FROM information_schema.columns "
            "WHERE table_schema='public' AND column_name='id'"
        ).fetchall()
    assert {t for t, d in defaults if d == "gen_random_uuid()"} >= set(SEED_COLUMNS)


@pytest.fixture
def conn(database_url: str):
    with psycopg.connect(database_url) as conn:
        user_id = conn.execute(
            "INSERT INTO users (email, password_hash) VALUES (%s, 'x') RETURNING id", (f"{uuid.uuid4().hex}@example.com",)
        ).fetchone()[0]
        conn.user_id = user_id  # type: ignore[attr-defined]
        yield conn
        conn.rollback()


@pytest.mark.parametrize(
    ("balance", "reserved", "constraint"),
    [
        (-1, 0, "ck_token_balances_balance_nonnegative"),
        (10, -1, "ck_token_balances_reserved_nonnegative"),
        (10, 11, "ck_token_balances_reserved_le_balance"),
    ],
)
def test_token_balance_checks_reject_violations(conn, balance: int, reserved: int, constraint: str) -> None:
    with pytest.raises(psycopg.errors.CheckViolation) as info:
        conn.execute(
            "INSERT INTO token_balances (user_id, token_address, balance, reserved_balance) VALUES (%s, 'C1', %s, %s)",
            (conn.user_id, balance, reserved),
        )
    assert info.value.diag.constraint_name == constraint


def test_token_balance_boundary_is_accepted(conn) -> None:
    conn.execute(
        "INSERT INTO token_balances (user_id, token_address, balance, reserved_balance) VALUES (%s, 'C1', 10, 10)",
        (conn.user_id,),
    )
    stored = conn.execute(
        "SELECT balance, reserved_balance FROM token_balances WHERE user_id = %s AND token_address = 'C1'",
        (conn.user_id,),
    ).fetchall()
    assert stored == [(10, 10)]  # reserved == balance is stored as given, not clamped or refused


def test_one_balance_row_per_user_and_token(conn) -> None:
    insert = "INSERT INTO token_balances (user_id, token_address) VALUES (%s, 'C1')"
    conn.execute(insert, (conn.user_id,))
    with pytest.raises(psycopg.errors.UniqueViolation):
        conn.execute(insert, (conn.user_id,))


@pytest.mark.parametrize("amount", [0, -5])
def test_operation_amount_must_be_positive(conn, amount: int) -> None:
    with pytest.raises(psycopg.errors.CheckViolation) as info:
        conn.execute(
            "INSERT INTO operations (user_id, operation_type, status, amount) VALUES (%s, 'deposit', 'pending', %s)",
            (conn.user_id, amount),
        )
    assert info.value.diag.constraint_name == "ck_operations_amount_positive"


def test_operation_status_must_be_known(conn) -> None:
    with pytest.raises(psycopg.errors.CheckViolation) as info:
        conn.execute(
            "INSERT INTO operations (user_id, operation_type, status, amount) VALUES (%s, 'deposit', 'lost', 1)",
            (conn.user_id,),
        )
    assert info.value.diag.constraint_name == "ck_operations_status_known"


def test_idempotency_key_is_unique(conn) -> None:
    insert = (
        "INSERT INTO operations (user_id, operation_type, status, amount, idempotency_key) "
        "VALUES (%s, 'deposit', 'pending', 1, 'k-1')"
    )
    conn.execute(insert, (conn.user_id,))
    with pytest.raises(psycopg.errors.UniqueViolation):
        conn.execute(insert, (conn.user_id,))


def test_kyc_tier_range(conn) -> None:
    with pytest.raises(psycopg.errors.CheckViolation):
        conn.execute("INSERT INTO kyc_records (user_id, tier, status) VALUES (%s, 5, 'pending')", (conn.user_id,))


def test_reset_is_refused_in_production() -> None:
    s = load_settings(app_env="test")
    production = s.model_copy(update={"app_env": "production"})
    with pytest.raises(migrate.ResetRefused):
        migrate.reset(production)


def test_backup_writes_a_pg_dump_custom_format_file(settings, tmp_path) -> None:
    path = migrate.backup(settings, tmp_path)
    assert path.read_bytes()[:5] == b"PGDMP"  # pg_dump custom-format magic
