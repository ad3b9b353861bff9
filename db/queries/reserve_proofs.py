"""Storing a proof of reserves and serving inclusion proofs from it.

Everything large goes in with binary ``COPY``: leaf groups (:mod:`domain.merkle_batch`, one row of
packed records per group) and the stored tree levels (packed 40-byte nodes in chunks,
:mod:`domain.merkle_sum`). An inclusion proof is one query of indexed reads: the caller's group
(found by ``first_user_id``), from which the siblings below the group's top are recomputed, and
the ``depth - GROUP_LEVELS`` stored siblings above it. Proofs built before migration 0016
(``leaf_group_leaves`` NULL) keep one leaf row per user and every level, and are served as before.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import ProofLeafChunk, ReserveProof, ReserveProofLeaf, ReserveProofLevel
from domain.merkle_batch import (
    GROUP_LEAVES,
    GROUP_LEVELS,
    LEAF_RECORD_BYTES,
    USER_ID_BYTES,
    group_levels,
    group_siblings,
    level_counts,
)
from domain.merkle_sum import NODE_BYTES, SALT_BYTES, InclusionProof, Node, sibling_index


@dataclass(frozen=True)
class ProofLeaf:
    """One user's leaf in a proof (the attributes of :class:`ReserveProofLeaf`).

    Attributes:
        position: index at level 0; salt: 32 bytes; balance: satoshis.
        group_records: the packed records of the leaf's whole group (None for old proofs).
    """

    user_id: uuid.UUID
    position: int
    salt: bytes
    balance: int
    group_records: bytes | None = None


async def _raw_cursor(session: AsyncSession):
    conn = await session.connection()
    raw = (await conn.get_raw_connection()).driver_connection
    return raw.cursor()  # type: ignore[union-attr]


async def copy_leaf_groups(
    session: AsyncSession, *, proof_id: uuid.UUID, first_group: int, records: bytes, group_leaves: int
) -> int:
    """``COPY`` packed leaf records into ``proof_leaf_chunks``, one row per ``group_leaves``
    records, the first row numbered ``first_group``; in the session's transaction.

    Returns the number of rows written.
    """
    size = group_leaves * LEAF_RECORD_BYTES
    rows = 0
    async with await _raw_cursor(session) as cur:
        sql = "COPY proof_leaf_chunks (proof_id, chunk, first_user_id, leaves) FROM STDIN (FORMAT BINARY)"
        async with cur.copy(sql) as copy:
            copy.set_types(["uuid", "int4", "uuid", "bytea"])
            for offset in range(0, len(records), size):
                first = uuid.UUID(bytes=records[offset : offset + USER_ID_BYTES])
                await copy.write_row((proof_id, first_group + rows, first, records[offset : offset + size]))
                rows += 1
    return rows


async def copy_levels(
    session: AsyncSession, *, proof_id: uuid.UUID, levels: Sequence[tuple[int, Sequence[bytes]]], chunk_nodes: int
) -> None:
    """``COPY`` tree levels ``(level index, packed nodes)`` into ``reserve_proof_levels`` in chunks
    of ``chunk_nodes`` nodes."""
    async with await _raw_cursor(session) as cur:
        sql = "COPY reserve_proof_levels (proof_id, level, chunk, nodes, chunk_nodes) FROM STDIN (FORMAT BINARY)"
        async with cur.copy(sql) as copy:
            copy.set_types(["uuid", "int4", "int4", "bytea", "int4"])
            for level, nodes in levels:
                for chunk, start in enumerate(range(0, len(nodes), chunk_nodes)):
                    await copy.write_row((proof_id, level, chunk, b"".join(nodes[start : start + chunk_nodes]), chunk_nodes))


async def delete_tree(session: AsyncSession, *, proof_id: uuid.UUID) -> None:
    """Remove every stored leaf and level of ``proof_id`` (a rebuild starts from nothing)."""
    for table in (ProofLeafChunk, ReserveProofLeaf, ReserveProofLevel):
        await session.execute(delete(table).where(table.proof_id == proof_id))  # type: ignore[arg-type]


async def lock(session: AsyncSession, *, proof_id: uuid.UUID) -> ReserveProof | None:
    """The proof row, locked ``FOR UPDATE`` until the transaction ends (one builder at a time)."""
    stmt = select(ReserveProof).where(ReserveProof.id == proof_id).with_for_update()  # type: ignore[arg-type]
    return (await session.execute(stmt.execution_options(populate_existing=True))).scalar_one_or_none()


async def get(session: AsyncSession, *, proof_id: uuid.UUID) -> ReserveProof | None:
    return await session.get(ReserveProof, proof_id)


async def latest_published(session: AsyncSession) -> ReserveProof | None:
    """The newest proof that reached chain (``published``), or None."""
    stmt = select(ReserveProof).where(ReserveProof.status == "published").order_by(ReserveProof.created_at.desc()).limit(1)  # type: ignore[attr-defined]
    return (await session.execute(stmt)).scalar_one_or_none()


def _find_in_group(records: bytes, user_id: bytes) -> int | None:
    """Index of ``user_id`` among a group's records (sorted by user id), by bisection."""
    lo, hi = 0, len(records) // LEAF_RECORD_BYTES
    while lo < hi:
        mid = (lo + hi) // 2
        at = records[mid * LEAF_RECORD_BYTES : mid * LEAF_RECORD_BYTES + USER_ID_BYTES]
        if at == user_id:
            return mid
        lo, hi = (mid + 1, hi) if at < user_id else (lo, mid)
    return None


async def get_leaf(session: AsyncSession, *, proof_id: uuid.UUID, user_id: uuid.UUID) -> ProofLeaf | None:
    """The leaf of ``user_id`` in proof ``proof_id``, or None (no such proof, or no leaf)."""
    proof = await get(session, proof_id=proof_id)
    if proof is None:
        return None
    if proof.leaf_group_leaves is None:
        old = await session.get(ReserveProofLeaf, (proof_id, user_id))
        return None if old is None else ProofLeaf(old.user_id, old.position, bytes(old.salt), old.balance)
    stmt = (
        select(ProofLeafChunk.chunk, ProofLeafChunk.leaves)
        .where(ProofLeafChunk.proof_id == proof_id, ProofLeafChunk.first_user_id <= user_id)  # type: ignore[arg-type]
        .order_by(ProofLeafChunk.first_user_id.desc())  # type: ignore[attr-defined]
        .limit(1)
    )
    found = (await session.execute(stmt)).one_or_none()
    if found is None:
        return None
    group, records = found[0], bytes(found[1])
    index = _find_in_group(records, user_id.bytes)
    if index is None:
        return None
    at = index * LEAF_RECORD_BYTES + USER_ID_BYTES
    return ProofLeaf(
        user_id, group * proof.leaf_group_leaves + index, records[at : at + SALT_BYTES],
        int.from_bytes(records[at + SALT_BYTES : at + SALT_BYTES + 8], "big"), records,
    )


# The caller's group and, in the same round trip, its stored siblings above the group's top: at
# level j >= GROUP_LEVELS the sibling of leaf p is node (p >> j) ^ 1, and p >> j = group >> (j -
# GROUP_LEVELS), so the path depends on the group alone.
_GROUP_AND_PATH_SQL = text(
    f"""
    WITH g AS (
        SELECT chunk, leaves FROM proof_leaf_chunks
        WHERE proof_id = :p AND first_user_id <= :u ORDER BY first_user_id DESC LIMIT 1
    )
    SELECT g.chunk, g.leaves, (
        SELECT array_agg(substring(l.nodes FROM ((g.chunk >> (l.level - {GROUP_LEVELS})) # 1) % l.chunk_nodes
                                   * {NODE_BYTES} + 1 FOR {NODE_BYTES}) ORDER BY l.level)
        FROM reserve_proof_levels l
        WHERE l.proof_id = :p AND l.level >= {GROUP_LEVELS} AND l.level < :depth
          AND l.chunk = ((g.chunk >> (l.level - {GROUP_LEVELS})) # 1) / l.chunk_nodes
    ) FROM g
    """
)


async def inclusion_proof(session: AsyncSession, *, proof: ReserveProof, user_id: uuid.UUID) -> InclusionProof | None:
    """The inclusion proof of ``user_id`` in ``proof`` (a row with its tree stored), or None.

    One query for proofs with grouped leaves (the group and the stored path); old-layout proofs
    take the leaf row and the path as before.

    Raises:
        LookupError: the proof's tree is not stored completely.
    """
    depth = proof.tree_depth or 0
    if proof.leaf_group_leaves is None:
        leaf = await get_leaf(session, proof_id=proof.id, user_id=user_id)
        if leaf is None:
            return None
        siblings = await sibling_path(session, proof_id=proof.id, position=leaf.position, depth=depth)
        return InclusionProof(leaf.user_id, leaf.salt, leaf.balance, leaf.position, siblings)
    if proof.leaf_group_leaves != GROUP_LEAVES:
        raise LookupError(f"proof {proof.id} has groups of {proof.leaf_group_leaves} leaves, not {GROUP_LEAVES}")
    found = (await session.execute(_GROUP_AND_PATH_SQL, {"p": proof.id, "u": user_id, "depth": depth})).one_or_none()
    if found is None:
        return None
    group, records, above = found[0], bytes(found[1]), [bytes(n) for n in found[2] or ()]
    index = _find_in_group(records, user_id.bytes)
    if index is None:
        return None
    if len(above) != max(depth - GROUP_LEVELS, 0) or any(len(n) != NODE_BYTES for n in above):
        raise LookupError(f"proof {proof.id} lacks tree nodes above group {group}")
    position = group * GROUP_LEAVES + index
    below = group_siblings(group_levels(records, counts=level_counts(proof.leaf_count or 0)),
                           position=position, group=group, depth=depth)
    at = index * LEAF_RECORD_BYTES + USER_ID_BYTES
    salt, balance = records[at : at + SALT_BYTES], int.from_bytes(records[at + SALT_BYTES : at + SALT_BYTES + 8], "big")
    return InclusionProof(user_id, salt, balance, position, tuple(Node.unpack(n) for n in below + above))


async def sibling_path(
    session: AsyncSession, *, proof_id: uuid.UUID, position: int, depth: int, from_level: int = 0
) -> tuple[Node, ...]:
    """Stored siblings of leaf ``position`` from level ``from_level`` to ``depth - 1``.

    Raises:
        LookupError: a level chunk is missing (the proof was not stored completely).
    """
    if depth <= from_level:
        return ()
    chunk_nodes = (
        await session.execute(
            select(ReserveProofLevel.chunk_nodes).where(ReserveProofLevel.proof_id == proof_id).limit(1)
        )
    ).scalar_one_or_none()
    if chunk_nodes is None:
        raise LookupError(f"proof {proof_id} has no stored levels")
    parts, params = [], {"pid": proof_id}
    for level in range(from_level, depth):
        index = sibling_index(position, level)
        params |= {f"l{level}": level, f"c{level}": index // chunk_nodes, f"o{level}": (index % chunk_nodes) * NODE_BYTES + 1}
        parts.append(
            f"SELECT {level} AS level, substring(nodes FROM :o{level} FOR {NODE_BYTES}) AS node "
            f"FROM reserve_proof_levels WHERE proof_id = :pid AND level = :l{level} AND chunk = :c{level}"
        )
    rows = dict((await session.execute(text(" UNION ALL ".join(parts)), params)).all())
    levels = range(from_level, depth)
    if len(rows) != len(levels) or any(len(rows[lvl]) != NODE_BYTES for lvl in levels):
        raise LookupError(f"proof {proof_id} lacks tree nodes for position {position}")
    return tuple(Node.unpack(bytes(rows[lvl])) for lvl in levels)


async def update_proof(session: AsyncSession, *, proof_id: uuid.UUID, **values: Any) -> None:
    await session.execute(update(ReserveProof).where(ReserveProof.id == proof_id).values(**values))  # type: ignore[arg-type]
