"""proof leaves packed in groups: ``proof_leaf_chunks`` and ``reserve_proofs.leaf_group_leaves``

Revision ID: 0016_proof_leaf_chunks
Revises: 0013_merge_books_payouts

A proof's leaves are stored as one row per group of packed leaf records (user id order), written
with ``COPY``, instead of one row per user; the levels below a group's top are recomputed from
the group when an inclusion proof is served. Proofs built earlier keep their
``reserve_proof_leaves`` rows and all their levels (``leaf_group_leaves`` NULL) and are served
as before.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016_proof_leaf_chunks"
down_revision: str | Sequence[str] | None = "0013_merge_books_payouts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("reserve_proofs", sa.Column("leaf_group_leaves", sa.Integer(), nullable=True))
    op.create_table(
        "proof_leaf_chunks",
        sa.Column("proof_id", sa.UUID(), nullable=False),
        sa.Column("chunk", sa.Integer(), nullable=False),
        sa.Column("first_user_id", sa.UUID(), nullable=False),
        sa.Column("leaves", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["proof_id"], ["reserve_proofs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("proof_id", "chunk"),
    )
    op.create_index("ix_proof_leaf_chunks_first_user", "proof_leaf_chunks", ["proof_id", "first_user_id"])
    # Salts and hashes do not compress: skip pglz's attempt on every row.
    op.execute("ALTER TABLE proof_leaf_chunks ALTER COLUMN leaves SET STORAGE EXTERNAL")


def downgrade() -> None:
    # Proofs built in the grouped layout lose their leaves: no inclusion proofs for them.
    op.drop_index("ix_proof_leaf_chunks_first_user", table_name="proof_leaf_chunks")
    op.drop_table("proof_leaf_chunks")
    op.drop_column("reserve_proofs", "leaf_group_leaves")
