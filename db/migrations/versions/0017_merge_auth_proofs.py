"""merge the auth-change notifications with the chunked proof storage

Revision ID: 0017_merge_auth_proofs
Revises: 0015_auth_notify, 0016_proof_leaf_chunks

Nothing to change: the two branches touch different tables (``users``/``revoked_tokens``
triggers; ``proof_leaf_chunks``/``reserve_proofs``).
"""

from collections.abc import Sequence

revision: str = "0017_merge_auth_proofs"
down_revision: str | Sequence[str] | None = ("0015_auth_notify", "0016_proof_leaf_chunks")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Join the two heads."""


def downgrade() -> None:
    """Split them again."""
