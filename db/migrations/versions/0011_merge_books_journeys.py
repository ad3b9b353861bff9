"""merge the books (0010_books) and the waiting-on-the-user (0010_journeys) branches

Revision ID: 0011_merge_books_journeys
Revises: 0010_books, 0010_journeys
"""

from collections.abc import Sequence

revision: str = "0011_merge_books_journeys"
down_revision: str | Sequence[str] | None = ("0010_books", "0010_journeys")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
