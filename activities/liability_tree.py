"""Building the liability Merkle-sum tree from Postgres into Postgres, in bounded memory.

Rows stream from a server-side cursor (:func:`db.queries.reserves.stream_user_liabilities`) in
one REPEATABLE READ transaction, so the tree is one consistent snapshot of the books: the same
snapshot gives the proof its liabilities (supply + unpaid withdrawals) and its journal position; leaves are written with
``COPY`` in batches and tree levels in 40-byte-node chunks as they fill. Memory stays at one leaf
batch plus one chunk per level, whatever the number of users. A retry starts from a clean slate
(the proof's old leaves and levels are deleted in the writing transaction).
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict

from sqlalchemy import delete

from activities.reserves_types import TreeResult
from db import ledger
from db.models import ReserveProofLeaf, ReserveProofLevel
from db.queries import reserve_proofs as proofs
from db.queries.reserves import stream_user_liabilities
from domain import entries as e
from domain.chart import balance
from domain.merkle_sum import SALT_BYTES, StreamingBuilder, leaf

LEAF_BATCH = 20_000
CHUNK_NODES = 65_536
PROGRESS_EVERY_SECONDS = 5.0


async def build_tree_in_postgres(
    sessions, *, proof_id: uuid.UUID, token_address: str, progress: Callable[[int], None] | None = None
) -> TreeResult:
    """Build and store the tree of ``proof_id`` (its ``reserve_proofs`` row must exist).

    Args:
        progress: called with the number of leaves so far every few seconds (activity heartbeat).

    Raises:
        SumOutOfRange: a negative liability or a total above ``MAX_SUM`` (nothing is stored).
    """
    builder = StreamingBuilder(CHUNK_NODES)
    batch: list[tuple] = []
    count, last_beat = 0, time.monotonic()
    async with sessions() as reader, sessions() as writer:
        # Connecting begins the reader's (read-only) transaction at REPEATABLE READ.
        await reader.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        journal_seq, journal_transfers = await ledger.journal_position(reader)
        accounts = await ledger.lookup_accounts(reader, [e.SUPPLY, e.UNPAID])
        supply = balance(accounts[e.SUPPLY]) if e.SUPPLY in accounts else 0
        unpaid = balance(accounts[e.UNPAID]) if e.UNPAID in accounts else 0
        async with writer.begin():
            for table in (ReserveProofLeaf, ReserveProofLevel):
                await writer.execute(delete(table).where(table.proof_id == proof_id))  # type: ignore[arg-type]
            async for user_id, liability in stream_user_liabilities(reader, token_address=token_address):
                salt = os.urandom(SALT_BYTES)
                chunks = builder.add(leaf(salt, user_id, liability))
                batch.append((proof_id, user_id, count, salt, liability))
                count += 1
                if chunks:
                    await proofs.store_chunks(writer, proof_id=proof_id, chunks=chunks, chunk_nodes=CHUNK_NODES)
                if len(batch) >= LEAF_BATCH:
                    await proofs.copy_leaves(writer, batch)
                    batch.clear()
                if progress is not None and time.monotonic() - last_beat > PROGRESS_EVERY_SECONDS:
                    progress(count)
                    last_beat = time.monotonic()
            await proofs.copy_leaves(writer, batch)
            root, chunks = builder.finish()
            await proofs.store_chunks(writer, proof_id=proof_id, chunks=chunks, chunk_nodes=CHUNK_NODES)
            result = TreeResult(root.hash.hex(), root.sum, count, builder.depth)
            await proofs.update_proof(
                writer, proof_id=proof_id, **asdict(result), supply_units=supply, burned_unpaid_sats=unpaid,
                liabilities_sats=supply + unpaid, journal_seq=journal_seq, journal_transfers=journal_transfers,
            )
    return result
