"""every ``user_istsi`` ledger account names its user

Revision ID: 0019_user_accounts_name_users
Revises: 0018_merge_channels

A user's iSTSi account is a liability of the proof of reserves, whose leaves are keyed by user id:
an account without one could not be a leaf (the tree builder refuses it). The books only ever
create these accounts for a user (``db.ledger``), so this makes the schema say so. A database
holding such a row fails this upgrade, naming the constraint: the row needs a person's look.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0019_user_accounts_name_users"
down_revision: str | Sequence[str] | None = "0018_merge_channels"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CONSTRAINT = "ck_ledger_accounts_user_istsi_has_user"


def upgrade() -> None:
    op.create_check_constraint(CONSTRAINT, "ledger_accounts", "code <> 'user_istsi' OR user_id IS NOT NULL")


def downgrade() -> None:
    op.drop_constraint(CONSTRAINT, "ledger_accounts", type_="check")
