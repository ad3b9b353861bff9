"""journeys: waiting on the user, limits counted from admission, sign-in lockouts (issue 14)

Revision ID: 0010_journeys
Revises: 0009_merge_heads

* ``operations.waiting_for``: what the user must do while the operation waits on them
  (stages ``awaiting_kyc`` / ``awaiting_limits``); NULL otherwise. The NOTIFY trigger carries it.
* ``operations.limits_counted_at``: when the amount started counting against the user's rolling
  limits. A deposit counts from the moment its policy step admits it (NULL before: a claim that
  waits for confirmations or for the user's KYC is not yet "used"); withdrawals count from
  ``created_at`` (left NULL). Existing deposits are backfilled with ``created_at``, as before.
* ``auth_lockouts``: consecutive failed sign-ins per login name (hashed) and the lockout with
  exponential backoff they lead to.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from db.migrations.helpers import operation_notify_function

revision: str = "0010_journeys"
down_revision: str | Sequence[str] | None = "0009_merge_heads"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The trigger now also watches and carries waiting_for; the downgrade restores 0006's.
_NOTIFY_FUNCTION = operation_notify_function(replace=True, added=("waiting_for",))
_NOTIFY_FUNCTION_0006 = operation_notify_function(replace=True)


def upgrade() -> None:
    op.add_column("operations", sa.Column("waiting_for", sa.String(), nullable=True))
    op.add_column("operations", sa.Column("limits_counted_at", sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE operations SET limits_counted_at = created_at WHERE operation_type = 'deposit'")
    op.execute(_NOTIFY_FUNCTION)
    op.create_table(
        "auth_lockouts",
        sa.Column("bucket", sa.String(), nullable=False),
        sa.Column("failures", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("first_failure_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lockouts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("bucket"),
        sa.CheckConstraint("failures >= 0 AND lockouts >= 0", name="ck_auth_lockouts_counts_nonnegative"),
    )
    op.create_index("ix_auth_lockouts_updated_at", "auth_lockouts", ["updated_at"])


def downgrade() -> None:
    op.drop_index("ix_auth_lockouts_updated_at", table_name="auth_lockouts")
    op.drop_table("auth_lockouts")
    op.execute(_NOTIFY_FUNCTION_0006)
    op.drop_column("operations", "limits_counted_at")
    op.drop_column("operations", "waiting_for")
