"""Building the liability Merkle-sum tree from Postgres into Postgres, fast and in bounded memory.

Rows stream from server-side cursors (:func:`db.queries.reserves.stream_liability_rows`: ids as
raw bytes, liabilities as BIGINT) in one REPEATABLE READ snapshot, so the tree is one consistent
snapshot of the books: the same snapshot gives the proof its liabilities (supply + unpaid
withdrawals) and its journal position. The users are cut into as many id ranges as there are
hash workers, each read on a connection of its own that imports the snapshot: their queries
(a sort of the range's rows) start at once and run side by side in Postgres, and the ranges are
then taken in order.

The work is a pipeline. The event loop reads batch ``k + 1`` while hash worker processes
(:mod:`activities.tree_hasher`) salt and hash the batches before it up to each group's top
(:func:`domain.merkle_batch.hash_groups`: whole groups only; a partial group waits for the next
batch), and the finished groups go to Postgres with binary ``COPY``, one row per group. The last partial group and the levels above the groups'
tops (one node per group) are computed here at the end. Memory: a few batches plus one node per
group.

Crash safety: the proof row is locked and the old tree deleted in the writing transaction, and
the root is stored in the same transaction as the leaves and levels, so a crash or a retry
mid-write leaves nothing behind; a proof whose root is already stored is returned as is (a
retry after the commit), and nothing is ever rebuilt once signed.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AsyncExitStack, aclosing, suppress
from dataclasses import asdict

from activities.tree_hasher import TreeHasher
from contracts.reserves import TreeResult
from db import ledger
from db.queries import reserve_proofs as proofs
from db.queries.reserves import export_snapshot, import_snapshot, stream_liability_rows, user_id_quantiles
from domain import entries as e
from domain.chart import balance
from domain.merkle_batch import (
    GROUP_LEAVES,
    GROUP_LEVELS,
    USER_ID_BYTES,
    HashedGroups,
    group_levels,
    hash_groups,
    level_counts,
    tail_records,
    upper_levels,
)
from domain.merkle_sum import Node

#: Rows per read from the cursor (a multiple of GROUP_LEAVES keeps groups whole per batch).
BATCH_ROWS = 64 * GROUP_LEAVES
#: Batches hashed or waiting to be written at once, per hash worker (bounds memory; two keep
#: each worker busy while the previous answer is written).
IN_FLIGHT_PER_WORKER = 2
#: Hash worker processes by default: one per core (the host's other work is Postgres's).
DEFAULT_HASH_WORKERS = min(2, os.cpu_count() or 1)
#: Nodes per stored level chunk (levels above the groups' tops).
CHUNK_NODES = 65_536
PROGRESS_EVERY_SECONDS = 5.0


class TreeNotBuildable(Exception):
    """The proof row is missing or already past ``building`` with no stored tree."""


class _Pipeline:
    """Hash batches of whole groups (in worker processes or inline) and write them in order.

    The writing runs in a task of its own, so the ``COPY`` of one batch overlaps the reading of
    the next; :meth:`submit` waits only while :attr:`in_flight` batches are hashed or unwritten.
    """

    def __init__(self, writer, proof_id: uuid.UUID, hashers: list[TreeHasher]) -> None:
        self.writer, self.proof_id, self.hashers = writer, proof_id, hashers
        self.in_flight = IN_FLIGHT_PER_WORKER * max(len(hashers), 1)
        self.submitted = 0
        self.tops: list[bytes] = []
        self.groups_written = 0
        self._room = asyncio.Semaphore(self.in_flight)
        self._answers: asyncio.Queue[asyncio.Future[HashedGroups] | None] = asyncio.Queue()
        self._unwritten: deque[asyncio.Future[HashedGroups]] = deque()
        self._writing = asyncio.create_task(self._write_in_order())

    async def submit(self, user_ids: bytes, balances: list[int]) -> None:
        await self._wait_for_room()
        if not self.hashers:
            answer: asyncio.Future[HashedGroups] = asyncio.get_running_loop().create_future()
            answer.set_result(hash_groups(user_ids, balances))
        else:
            # Round robin; answers are written in submission order, so positions stay in order.
            answer = await self.hashers[self.submitted % len(self.hashers)].submit(user_ids, balances)
        self._answers.put_nowait(answer)
        self._unwritten.append(answer)
        self.submitted += 1

    async def _wait_for_room(self) -> None:
        room = asyncio.ensure_future(self._room.acquire())
        try:
            await asyncio.wait({room, self._writing}, return_when=asyncio.FIRST_COMPLETED)
        except BaseException:
            room.cancel()
            raise
        if not room.done():  # the writing failed: raise its error here
            room.cancel()
            self._writing.result()
            raise AssertionError("the writing task ended early")

    async def _write_in_order(self) -> None:
        while (answer := await self._answers.get()) is not None:
            hashed = await answer
            await self.write_groups(hashed.records)
            self.tops += hashed.tops
            self._unwritten.popleft()
            self._room.release()

    async def drain(self) -> None:
        """Wait until every submitted batch is written (raises what the hashing or writing raised)."""
        self._answers.put_nowait(None)
        await self._writing

    async def close(self) -> None:
        """Stop the writing after an error and drop what is still unwritten (idempotent).

        The answers are cancelled, not the writing task: a ``COPY`` under way finishes, so the
        writer's connection is left able to roll back."""
        for answer in self._unwritten:
            answer.cancel()
        self._answers.put_nowait(None)
        await asyncio.gather(self._writing, return_exceptions=True)

    async def write_groups(self, records: bytes) -> None:
        self.groups_written += await proofs.copy_leaf_groups(
            self.writer, proof_id=self.proof_id, first_group=self.groups_written, records=records,
            group_leaves=GROUP_LEAVES,
        )


def _result_of(row) -> TreeResult:
    return TreeResult(row.root_hash, row.tree_total_sats or 0, row.leaf_count or 0, row.tree_depth or 0)


async def build_tree_in_postgres(
    sessions, *, proof_id: uuid.UUID, token_address: str, progress: Callable[[int], None] | None = None,
    hash_workers: int = DEFAULT_HASH_WORKERS,
) -> TreeResult:
    """Build and store the tree of ``proof_id`` (its ``reserve_proofs`` row must exist).

    Args:
        sessions: the async sessionmaker.
        proof_id: the proof, in status ``building``.
        token_address: the iSTSi contract whose holders are the leaves.
        progress: called with the number of leaves so far every few seconds (activity heartbeat).
        hash_workers: worker processes that hash beside the reading
            (:mod:`activities.tree_hasher`; default one per core, at most 2); 0 hashes inline
            in the event loop.

    Returns:
        Root hash (hex), root sum (satoshis), leaf count and depth of the stored tree.

    Raises:
        SumOutOfRange: a negative liability or a total above ``MAX_SUM`` (nothing is stored).
        ValueError: the liability rows are not in strictly increasing user-id order.
        TreeNotBuildable: no such proof, or it was signed without a tree.
        HashWorkerDied: the hash worker process exited (nothing is stored; a retry rebuilds).
    """
    async with AsyncExitStack() as stack:
        hashers = [await stack.enter_async_context(TreeHasher()) for _ in range(hash_workers)]
        return await _build(sessions, proof_id, token_address, progress, hashers)
    raise AssertionError("unreachable")


async def _build(sessions, proof_id, token_address, progress, hashers) -> TreeResult:
    async with sessions() as reader, sessions() as writer, AsyncExitStack() as range_readers:
        # Connecting begins the reader's (read-only) transaction at REPEATABLE READ.
        await reader.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        async with writer.begin():
            row = await proofs.lock(writer, proof_id=proof_id)
            if row is not None and row.root_hash is not None:
                return _result_of(row)  # built and committed by an earlier attempt
            if row is None or row.status != "building":
                raise TreeNotBuildable(f"proof {proof_id} is not being built")
            journal_seq, journal_transfers = await ledger.journal_position(reader)
            accounts = await ledger.lookup_accounts(reader, [e.SUPPLY, e.UNPAID])
            supply = balance(accounts[e.SUPPLY]) if e.SUPPLY in accounts else 0
            unpaid = balance(accounts[e.UNPAID]) if e.UNPAID in accounts else 0
            await proofs.delete_tree(writer, proof_id=proof_id)
            streams = await _range_streams(reader, sessions, range_readers, token_address, parts=max(len(hashers), 1))
            pipeline = _Pipeline(writer, proof_id, hashers)
            try:
                async with aclosing(_in_key_order(streams)) as batches:
                    count, tail_ids, tail_balances = await _stream(batches, pipeline, progress)
                await pipeline.drain()
            finally:
                await pipeline.close()
            result = await _finish(writer, pipeline, proof_id, count, tail_ids, tail_balances)
            await proofs.update_proof(
                writer, proof_id=proof_id, **asdict(result), supply_units=supply, burned_unpaid_sats=unpaid,
                liabilities_sats=supply + unpaid, journal_seq=journal_seq, journal_transfers=journal_transfers,
                leaf_group_leaves=GROUP_LEAVES,
            )
    return result


async def _range_streams(reader, sessions, stack: AsyncExitStack, token_address: str, *, parts: int) -> list:
    """Row streams of consecutive user-id ranges (one per hash worker), each on its own
    connection in the reader's snapshot, so that Postgres sorts the ranges at once in as many
    backends (a server-side cursor never gets a parallel plan). One stream of all rows while
    the planner has no statistics to cut the ranges by."""
    cuts = await user_id_quantiles(reader, parts)
    if not cuts:
        return [stream_liability_rows(reader, token_address=token_address, batch_rows=BATCH_ROWS)]
    snapshot = await export_snapshot(reader)
    streams = []
    for k, (lo, hi) in enumerate(zip([None, *cuts], [*cuts, None], strict=True)):
        session = reader
        if k:
            session = await stack.enter_async_context(sessions())
            await session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
            await import_snapshot(session, snapshot)
        streams.append(stream_liability_rows(
            session, token_address=token_address, batch_rows=BATCH_ROWS, key_range=(lo, hi)))
    return streams


async def _in_key_order(streams: Sequence[AsyncIterator]) -> AsyncIterator:
    """The batches of ``streams``, one stream after the other. Every stream's first batch is
    asked for at once, which starts every range's query, and each next batch is asked for
    before the current one is handed on, so Postgres makes it while the caller works."""
    ahead = [asyncio.ensure_future(anext(stream, None)) for stream in streams]
    try:
        for k, stream in enumerate(streams):
            while (rows := await ahead[k]) is not None:
                ahead[k] = asyncio.ensure_future(anext(stream, None))
                yield rows
    finally:
        # After an error, a later range may still be sorting: cancel its fetch (psycopg then
        # cancels the query on the server, and the session's rollback works).
        for fetch in ahead:
            fetch.cancel()
        await asyncio.gather(*ahead, return_exceptions=True)
        for stream in streams:
            with suppress(Exception):
                await stream.aclose()  # type: ignore[attr-defined]


async def _stream(batches: AsyncIterator, pipeline: _Pipeline, progress) -> tuple[int, bytes, list[int]]:
    """Feed whole groups to the pipeline; return the leaf count and the partial last group."""
    carry_ids, carry_balances = b"", []
    count, last_id, last_beat = 0, b"", time.monotonic()
    async for rows in batches:
        batch_ids, batch_balances = zip(*rows, strict=True)
        if None in batch_ids:
            raise ValueError("a liability row has no user id")
        ids = carry_ids + b"".join(batch_ids)
        balances = carry_balances + list(batch_balances)
        if rows[0][0] <= last_id:
            raise ValueError("liability rows are not in strictly increasing user-id order")
        last_id = rows[-1][0]
        count += len(rows)
        whole = len(balances) - len(balances) % GROUP_LEAVES
        carry_ids, carry_balances = ids[whole * USER_ID_BYTES :], balances[whole:]
        if whole:
            await pipeline.submit(ids[: whole * USER_ID_BYTES], balances[:whole])
        if progress is not None and time.monotonic() - last_beat > PROGRESS_EVERY_SECONDS:
            progress(count)
            last_beat = time.monotonic()
    return count, carry_ids, carry_balances


async def _finish(writer, pipeline: _Pipeline, proof_id, count: int, tail_ids: bytes, tail_balances) -> TreeResult:
    """Hash the partial last group, build and store the levels above the groups' tops."""
    counts = level_counts(count)
    depth = len(counts) - 1
    root = Node(bytes(32), 0)  # the empty tree's root (PADDING)
    if tail_balances:
        records = tail_records(tail_ids, tail_balances)
        levels = group_levels(records, counts=counts)
        await pipeline.write_groups(records)
        if depth < GROUP_LEVELS:
            root = Node.unpack(levels[-1][0])  # the whole tree lies below a group's top
        else:
            pipeline.tops.append(levels[GROUP_LEVELS][0])
    if pipeline.tops:
        upper = upper_levels(pipeline.tops)
        root = Node.unpack(upper[-1][0])
        await proofs.copy_levels(
            writer, proof_id=proof_id, levels=[(GROUP_LEVELS + k, nodes) for k, nodes in enumerate(upper)],
            chunk_nodes=CHUNK_NODES,
        )
    return TreeResult(root.hash.hex(), root.sum, count, depth)
