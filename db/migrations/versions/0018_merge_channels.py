"""merge the Soroban channel-account pool with the auth and proof branch

Revision ID: 0018_merge_channels
Revises: 0017_merge_auth_proofs, 0014_channel_accounts

Nothing to change: ``soroban_channels`` and ``chain_submissions.source_account`` touch no table
of the other branch.
"""

from collections.abc import Sequence

revision: str = "0018_merge_channels"
down_revision: str | Sequence[str] | None = ("0017_merge_auth_proofs", "0014_channel_accounts")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Join the two heads."""


def downgrade() -> None:
    """Split them again."""
