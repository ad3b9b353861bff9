"""deposit_addresses: one BTC deposit address per user, indexes from a sequence

Revision ID: 0003_deposit_addresses
Revises: 0002_identity
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0003_deposit_addresses"
down_revision: Union[str, Sequence[str], None] = "0002_identity"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.execute("CREATE SEQUENCE deposit_address_index_seq MINVALUE 0 START WITH 0")
    op.create_table(
        "deposit_addresses",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("derivation_index", sa.Integer(), nullable=False),
        sa.Column("address", sa.String(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("user_id"),
        sa.UniqueConstraint("derivation_index"),
        sa.UniqueConstraint("address"),
        sa.CheckConstraint("derivation_index >= 0", name="ck_deposit_addresses_index_nonnegative"),
    )


def downgrade() -> None:
    op.drop_table("deposit_addresses")
    op.execute("DROP SEQUENCE deposit_address_index_seq")
