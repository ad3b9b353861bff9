"""Storing a proof of reserves and serving inclusion proofs from it.

Leaves go in with ``COPY`` (a million rows in seconds); tree levels are packed 40-byte nodes in
chunks (:mod:`domain.merkle_sum`), so a sibling path is one query of ``depth`` substrings.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import ReserveProof, ReserveProofLeaf, ReserveProofLevel
from domain.merkle_sum import NODE_BYTES, LevelChunk, Node, sibling_index


async def copy_leaves(session: AsyncSession, rows: Sequence[tuple[uuid.UUID, uuid.UUID, int, bytes, int]]) -> None:
    """Bulk-insert ``(proof_id, user_id, position, salt, balance)`` rows with ``COPY`` in the
    session's transaction."""
    if not rows:
        return
    conn = await session.connection()
    raw = (await conn.get_raw_connection()).driver_connection
    async with raw.cursor() as cur:  # type: ignore[union-attr]
        async with cur.copy("COPY reserve_proof_leaves (proof_id, user_id, position, salt, balance) FROM STDIN") as copy:
            for row in rows:
                await copy.write_row(row)


async def store_chunks(session: AsyncSession, *, proof_id: uuid.UUID, chunks: Sequence[LevelChunk], chunk_nodes: int) -> None:
    for c in chunks:
        session.add(ReserveProofLevel(proof_id=proof_id, level=c.level, chunk=c.chunk, nodes=c.data, chunk_nodes=chunk_nodes))
    await session.flush()


async def get(session: AsyncSession, *, proof_id: uuid.UUID) -> ReserveProof | None:
    return await session.get(ReserveProof, proof_id)


async def latest_published(session: AsyncSession) -> ReserveProof | None:
    """The newest proof that reached chain (``published``), or None."""
    stmt = select(ReserveProof).where(ReserveProof.status == "published").order_by(ReserveProof.created_at.desc()).limit(1)  # type: ignore[attr-defined]
    return (await session.execute(stmt)).scalar_one_or_none()


async def get_leaf(session: AsyncSession, *, proof_id: uuid.UUID, user_id: uuid.UUID) -> ReserveProofLeaf | None:
    return await session.get(ReserveProofLeaf, (proof_id, user_id))


async def sibling_path(session: AsyncSession, *, proof_id: uuid.UUID, position: int, depth: int) -> tuple[Node, ...]:
    """Siblings of leaf ``position`` from level 0 to ``depth - 1``.

    Raises:
        LookupError: a level chunk is missing (the proof was not stored completely).
    """
    if depth == 0:
        return ()
    chunk_nodes = (
        await session.execute(
            select(ReserveProofLevel.chunk_nodes).where(ReserveProofLevel.proof_id == proof_id).limit(1)
        )
    ).scalar_one()
    parts, params = [], {"pid": proof_id}
    for level in range(depth):
        index = sibling_index(position, level)
        params |= {f"l{level}": level, f"c{level}": index // chunk_nodes, f"o{level}": (index % chunk_nodes) * NODE_BYTES + 1}
        parts.append(
            f"SELECT {level} AS level, substring(nodes FROM :o{level} FOR {NODE_BYTES}) AS node "
            f"FROM reserve_proof_levels WHERE proof_id = :pid AND level = :l{level} AND chunk = :c{level}"
        )
    rows = dict((await session.execute(text(" UNION ALL ".join(parts)), params)).all())
    if len(rows) != depth or any(len(rows[lvl]) != NODE_BYTES for lvl in range(depth)):
        raise LookupError(f"proof {proof_id} lacks tree nodes for position {position}")
    return tuple(Node.unpack(bytes(rows[lvl])) for lvl in range(depth))


async def update_proof(session: AsyncSession, *, proof_id: uuid.UUID, **values: Any) -> None:
    await session.execute(update(ReserveProof).where(ReserveProof.id == proof_id).values(**values))  # type: ignore[arg-type]
