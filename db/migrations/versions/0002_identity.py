"""identity: names and token cut-off on users, role CHECK, revoked_tokens, rate_limit_counters

Revision ID: 0002_identity
Revises: 0001_foundation
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0002_identity"
down_revision: Union[str, Sequence[str], None] = "0001_foundation"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.add_column("users", sa.Column("first_name", sa.String(), nullable=True))
    op.add_column("users", sa.Column("last_name", sa.String(), nullable=True))
    op.add_column("users", sa.Column("tokens_valid_after", sa.DateTime(timezone=True), nullable=True))
    op.create_check_constraint(
        "ck_users_role_known", "users", "role IN ('user', 'operator', 'compliance_officer', 'admin')"
    )
    op.create_table(
        "revoked_tokens",
        sa.Column("jti", sa.String(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("jti"),
    )
    op.create_index("ix_revoked_tokens_expires_at", "revoked_tokens", ["expires_at"], unique=False)
    op.create_table(
        "rate_limit_counters",
        sa.Column("bucket", sa.String(), nullable=False),
        sa.Column("window_started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("hits", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("bucket"),
    )
    op.create_index(
        "ix_rate_limit_counters_window_started_at", "rate_limit_counters", ["window_started_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_rate_limit_counters_window_started_at", table_name="rate_limit_counters")
    op.drop_table("rate_limit_counters")
    op.drop_index("ix_revoked_tokens_expires_at", table_name="revoked_tokens")
    op.drop_table("revoked_tokens")
    op.drop_constraint("ck_users_role_known", "users", type_="check")
    op.drop_column("users", "tokens_valid_after")
    op.drop_column("users", "last_name")
    op.drop_column("users", "first_name")
