"""channel accounts for Soroban submissions

Revision ID: 0014_channel_accounts
Revises: 0013_merge_books_payouts

* ``soroban_channels``: one row per channel account (lease, tracked sequence number, the
  envelope bound to it until resolved, last balance seen). Rows are upserted from config at
  worker start; the secrets stay in config / secret files.
* ``chain_submissions.source_account``: the transaction source of the stored envelope (the
  channel it is bound to).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014_channel_accounts"
down_revision: str | Sequence[str] | None = "0013_merge_books_payouts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "soroban_channels",
        sa.Column("public_key", sa.String(), nullable=False),
        sa.Column("sequence", sa.BigInteger(), nullable=True),
        sa.Column("lease_owner", sa.String(), nullable=True),
        sa.Column("leased_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("submission_key", sa.String(), nullable=True),
        sa.Column("tx_hash", sa.String(), nullable=True),
        sa.Column("envelope_sequence", sa.BigInteger(), nullable=True),
        sa.Column("max_time", sa.BigInteger(), nullable=True),
        sa.Column("auth_expiration_ledger", sa.BigInteger(), nullable=True),
        sa.Column("balance_stroops", sa.BigInteger(), nullable=True),
        sa.Column("balance_checked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("public_key"),
        # A bound envelope always names its hash: the channel is freed only by resolving it.
        sa.CheckConstraint("submission_key IS NULL OR tx_hash IS NOT NULL", name="ck_soroban_channels_bound_hash"),
    )
    op.add_column("chain_submissions", sa.Column("source_account", sa.String(), nullable=True))


def downgrade() -> None:
    op.drop_column("chain_submissions", "source_account")
    op.drop_table("soroban_channels")
