"""merge the deposits, reserves and withdrawals branches

Revision ID: 0009_merge_heads
Revises: 0006_deposits, 0007_reserves, 0008_withdrawals
"""

from collections.abc import Sequence

revision: str = "0009_merge_heads"
down_revision: str | Sequence[str] | None = ("0006_deposits", "0007_reserves", "0008_withdrawals")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
