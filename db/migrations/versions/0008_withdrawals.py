"""withdrawals: payouts (one signed BTC transaction per withdrawal, stored before broadcast)

Revision ID: 0008_withdrawals
Revises: 0005_system_state (a branch beside 0006 and 0007; ``custody db upgrade`` applies every head)

* ``payouts.operation_id`` is UNIQUE: a withdrawal has at most one payout, so a retried
  activity re-uses the stored transaction instead of signing a second one.
* ``payouts.txid`` is UNIQUE and known before signing (segwit), so an ambiguous broadcast is
  resolved by looking it up.
* ``payout_change_index_seq`` hands out change indexes on the internal chain.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from db.migrations.helpers import ZERO

revision: str = "0008_withdrawals"
down_revision: str | Sequence[str] | None = "0005_system_state"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("CREATE SEQUENCE payout_change_index_seq MINVALUE 0 START WITH 0")
    op.create_table(
        "payouts",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("operation_id", sa.UUID(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("recipient_address", sa.String(), nullable=False),
        sa.Column("amount_sats", sa.BigInteger(), server_default=ZERO, nullable=False),
        sa.Column("fee_sats", sa.BigInteger(), server_default=ZERO, nullable=False),
        sa.Column("fee_rate_sat_vb", sa.BigInteger(), server_default=ZERO, nullable=False),
        sa.Column("change_sats", sa.BigInteger(), server_default=ZERO, nullable=False),
        sa.Column("change_index", sa.Integer(), nullable=False),
        sa.Column("inputs", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("psbt", sa.Text(), nullable=False),
        sa.Column("txid", sa.String(), nullable=False),
        sa.Column("tx_hex", sa.Text(), nullable=True),
        sa.Column("confirmed_height", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["operation_id"], ["operations.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("operation_id"),
        sa.UniqueConstraint("txid"),
        sa.CheckConstraint(
            "status IN ('awaiting_signature', 'signed', 'broadcast', 'confirmed', 'abandoned')",
            name="ck_payouts_status_known",
        ),
        sa.CheckConstraint("amount_sats > 0 AND fee_sats >= 0 AND change_sats >= 0", name="ck_payouts_amounts"),
    )


def downgrade() -> None:
    op.drop_table("payouts")
    op.execute("DROP SEQUENCE payout_change_index_seq")
