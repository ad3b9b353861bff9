"""``reserve_proofs`` and the tree behind each, so an inclusion proof is a few indexed reads and
nothing large ever travels through Temporal (docs/DESIGN.md §8):

* ``proof_leaf_chunks``: the leaves, one row per group of :data:`domain.merkle_batch.GROUP_LEAVES`
  packed leaf records ordered by user id (found by ``first_user_id``); the tree levels below the
  group's top are recomputed from it on demand.
* ``reserve_proof_levels``: the levels from the groups' tops up to the root, packed nodes in chunks.
* ``reserve_proof_leaves``: one row per user, for proofs built before migration 0016 only.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Column, ForeignKey, Index, Integer, LargeBinary, UniqueConstraint
from sqlalchemy.dialects.postgresql import UUID
from sqlmodel import Field, SQLModel

from db.models.base import jsonb, sats, timestamptz, uuid_pk, varchar


class ReserveProof(SQLModel, table=True):
    __tablename__ = "reserve_proofs"

    id: uuid.UUID = uuid_pk()
    status: str = varchar(nullable=False, default="building")
    """``building`` → ``signed`` → ``published`` (or ``failed``)."""
    btc_height: int = Field(sa_column=Column(BigInteger, nullable=False))
    """Bitcoin tip height the snapshot was pinned at."""
    stellar_ledger: int = Field(sa_column=Column(BigInteger, nullable=False))
    """Stellar ledger sequence the on-chain figures were read at."""
    reserves_sats: int = sats()
    """Confirmed custody UTXOs at ``btc_height``, satoshis."""
    supply_units: int = sats()
    """iSTSi ``total_supply`` on chain, base units (= satoshis)."""
    burned_unpaid_sats: int = sats()
    """Withdrawals burned on chain but not yet paid out in BTC, satoshis."""
    liabilities_sats: int = sats()
    """``supply_units + burned_unpaid_sats``."""
    journal_seq: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    """Highest ledger transfer visible to the snapshot the liabilities were read from."""
    journal_transfers: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    """How many transfers that snapshot held (with ``journal_seq``: the pinned journal position)."""
    tree_total_sats: int | None = sats(nullable=True, default=None)
    """Root sum of the Merkle-sum tree (the database's per-user liabilities)."""
    leaf_count: int | None = sats(nullable=True, default=None)
    tree_depth: int | None = Field(default=None, sa_column=Column(Integer, nullable=True))
    root_hash: str | None = varchar()
    """Root hash, hex."""
    ratio_bps: int | None = sats(nullable=True, default=None)
    """Reserves / liabilities in bps; NULL when liabilities are 0."""
    reserve_status: str | None = varchar()
    """``ok`` / ``warning`` / ``critical`` / ``breach`` (:class:`domain.reserves.ReserveStatus`)."""
    document: dict[str, Any] | None = jsonb()
    """The signed :class:`domain.proof_document.ProofDocument` fields."""
    proof_hash: str | None = varchar()
    """SHA-256 of the canonical document, hex; published on chain."""
    signature: str | None = varchar()
    """Ed25519 signature of the canonical document, hex."""
    published_tx_hash: str | None = varchar()
    published_at: datetime | None = timestamptz(nullable=True, default_now=False)
    error: str | None = varchar()
    created_at: datetime = timestamptz()
    leaf_group_leaves: int | None = Field(default=None, sa_column=Column(Integer, nullable=True))
    """Leaves per ``proof_leaf_chunks`` row, and levels below ``log2`` of it are not stored; NULL:
    the leaves are ``reserve_proof_leaves`` rows and every level is stored (proofs before 0016)."""


class ReserveProofLeaf(SQLModel, table=True):
    __tablename__ = "reserve_proof_leaves"
    __table_args__ = (UniqueConstraint("proof_id", "position", name="uq_reserve_proof_leaves_position"),)

    proof_id: uuid.UUID = Field(
        sa_column=Column(UUID(as_uuid=True), ForeignKey("reserve_proofs.id", ondelete="CASCADE"), primary_key=True)
    )
    user_id: uuid.UUID = Field(sa_column=Column(UUID(as_uuid=True), primary_key=True))
    """The user (no foreign key: a proof is a historical record)."""
    position: int = Field(sa_column=Column(BigInteger, nullable=False))
    """Index of the leaf at level 0."""
    salt: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    """32 random bytes drawn for this user in this proof."""
    balance: int = sats()
    """The user's liability in the leaf, satoshis."""


class ProofLeafChunk(SQLModel, table=True):
    __tablename__ = "proof_leaf_chunks"
    __table_args__ = (Index("ix_proof_leaf_chunks_first_user", "proof_id", "first_user_id"),)

    proof_id: uuid.UUID = Field(
        sa_column=Column(UUID(as_uuid=True), ForeignKey("reserve_proofs.id", ondelete="CASCADE"), primary_key=True)
    )
    chunk: int = Field(sa_column=Column(Integer, primary_key=True))
    """Group index: the first leaf's position is ``chunk * leaf_group_leaves``."""
    first_user_id: uuid.UUID = Field(sa_column=Column(UUID(as_uuid=True), nullable=False))
    """User id of the group's first leaf (groups follow user-id order; indexed with proof_id)."""
    leaves: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    """Packed leaf records ``user_id[16] ‖ salt[32] ‖ u64 balance`` (satoshis), by user id;
    storage EXTERNAL (random bytes do not compress)."""


class ReserveProofLevel(SQLModel, table=True):
    __tablename__ = "reserve_proof_levels"

    proof_id: uuid.UUID = Field(
        sa_column=Column(UUID(as_uuid=True), ForeignKey("reserve_proofs.id", ondelete="CASCADE"), primary_key=True)
    )
    level: int = Field(sa_column=Column(Integer, primary_key=True))
    chunk: int = Field(sa_column=Column(Integer, primary_key=True))
    nodes: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    """Packed nodes (``hash ‖ u64 sum``, 40 bytes each); storage EXTERNAL so slices are cheap."""
    chunk_nodes: int = Field(sa_column=Column(Integer, nullable=False))
    """Nodes per full chunk of this proof (the same for every row of one proof)."""
