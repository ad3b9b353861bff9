"""one engine account per Stellar account: a unique index on ``users.stellar_address``

Revision ID: 0020_unique_stellar_address
Revises: 0019_user_accounts_name_users

iSTSi is minted to the Stellar account a user names and redeemed only with that account's
signature. Two users naming one account would see one's deposits minted into the other's wallet,
which the first could never withdraw, and the books would attribute one on-chain balance to two
users. NULLs (no address yet) stay allowed. A database where two users already share an address
fails this upgrade, naming the index: that pair needs a person's look.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0020_unique_stellar_address"
down_revision: str | Sequence[str] | None = "0019_user_accounts_name_users"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "uq_users_stellar_address"


def upgrade() -> None:
    op.create_index(INDEX, "users", ["stellar_address"], unique=True)


def downgrade() -> None:
    op.drop_index(INDEX, table_name="users")
