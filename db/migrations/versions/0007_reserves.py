"""reserves and oversight: proofs (+ leaves, levels), reconciliation runs, chain events, cursors

Revision ID: 0007_reserves
Revises: 0005_system_state (a branch beside 0006; ``custody db upgrade`` applies every head)
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from db.migrations.helpers import NEW_UUID, NOW, ZERO

revision: str = "0007_reserves"
down_revision: str | Sequence[str] | None = "0005_system_state"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _sats(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.BigInteger(), server_default=None if nullable else ZERO, nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "chain_events",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("contract_id", sa.String(), nullable=False),
        sa.Column("contract", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=True),
        sa.Column("ledger", sa.BigInteger(), nullable=False),
        sa.Column("ledger_closed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tx_hash", sa.String(), nullable=False),
        sa.Column("topics", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("value", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("engine_originated", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("applied", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_chain_events_ledger", "chain_events", ["ledger"], unique=False)
    op.create_table(
        "event_cursors",
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("cursor", sa.String(), nullable=False),
        sa.Column("last_ledger", sa.BigInteger(), nullable=False),
        sa.Column("latest_ledger", sa.BigInteger(), nullable=False),
        sa.Column("oldest_ledger", sa.BigInteger(), server_default=ZERO, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "reconciliation_runs",
        sa.Column("id", sa.UUID(), server_default=NEW_UUID, nullable=False),
        sa.Column("workflow_id", sa.String(), nullable=True),
        sa.Column("status", sa.String(), server_default=sa.text("'running'"), nullable=False),
        sa.Column("btc_height", sa.BigInteger(), nullable=True),
        sa.Column("stellar_ledger", sa.BigInteger(), nullable=True),
        sa.Column("figures", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("users_checked", sa.Integer(), server_default=ZERO, nullable=False),
        sa.Column("max_severity", sa.String(), server_default=sa.text("'none'"), nullable=False),
        sa.Column("paused", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_reconciliation_runs_started", "reconciliation_runs", [sa.literal_column("started_at DESC")], unique=False
    )
    op.create_table(
        "reconciliation_discrepancies",
        sa.Column("id", sa.UUID(), server_default=NEW_UUID, nullable=False),
        sa.Column("run_id", sa.UUID(), nullable=False),
        sa.Column("check_name", sa.String(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=True),
        _sats("expected_sats"),
        _sats("actual_sats"),
        _sats("diff_sats"),
        _sats("diff_bps"),
        sa.Column("severity", sa.String(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["reconciliation_runs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        op.f("ix_reconciliation_discrepancies_run_id"), "reconciliation_discrepancies", ["run_id"], unique=False
    )
    op.create_table(
        "reserve_proofs",
        sa.Column("id", sa.UUID(), server_default=NEW_UUID, nullable=False),
        sa.Column("status", sa.String(), server_default=sa.text("'building'"), nullable=False),
        sa.Column("btc_height", sa.BigInteger(), nullable=False),
        sa.Column("stellar_ledger", sa.BigInteger(), nullable=False),
        _sats("reserves_sats"),
        _sats("supply_units"),
        _sats("burned_unpaid_sats"),
        _sats("liabilities_sats"),
        _sats("tree_total_sats", nullable=True),
        _sats("leaf_count", nullable=True),
        sa.Column("tree_depth", sa.Integer(), nullable=True),
        sa.Column("root_hash", sa.String(), nullable=True),
        _sats("ratio_bps", nullable=True),
        sa.Column("reserve_status", sa.String(), nullable=True),
        sa.Column("document", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("proof_hash", sa.String(), nullable=True),
        sa.Column("signature", sa.String(), nullable=True),
        sa.Column("published_tx_hash", sa.String(), nullable=True),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error", sa.String(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "reserve_proof_leaves",
        sa.Column("proof_id", sa.UUID(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("salt", sa.LargeBinary(), nullable=False),
        _sats("balance"),
        sa.ForeignKeyConstraint(["proof_id"], ["reserve_proofs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("proof_id", "user_id"),
        sa.UniqueConstraint("proof_id", "position", name="uq_reserve_proof_leaves_position"),
    )
    op.create_table(
        "reserve_proof_levels",
        sa.Column("proof_id", sa.UUID(), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("chunk", sa.Integer(), nullable=False),
        sa.Column("nodes", sa.LargeBinary(), nullable=False),
        sa.Column("chunk_nodes", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["proof_id"], ["reserve_proofs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("proof_id", "level", "chunk"),
    )
    # Hashes do not compress; EXTERNAL (uncompressed TOAST) lets substring() read only the
    # pages a sibling lives on instead of detoasting a whole chunk per inclusion proof.
    op.execute("ALTER TABLE reserve_proof_levels ALTER COLUMN nodes SET STORAGE EXTERNAL")


def downgrade() -> None:
    op.drop_table("reserve_proof_levels")
    op.drop_table("reserve_proof_leaves")
    op.drop_table("reserve_proofs")
    op.drop_index(op.f("ix_reconciliation_discrepancies_run_id"), table_name="reconciliation_discrepancies")
    op.drop_table("reconciliation_discrepancies")
    op.drop_index("ix_reconciliation_runs_started", table_name="reconciliation_runs")
    op.drop_table("reconciliation_runs")
    op.drop_table("event_cursors")
    op.drop_index("ix_chain_events_ledger", table_name="chain_events")
    op.drop_table("chain_events")
