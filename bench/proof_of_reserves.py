"""Proof-of-reserves benchmark (issues 9 and 15): the liability tree over N balances streamed from Postgres.

In a fresh migrated database seeded with N users (default 1,000,000) holding iSTSi in the books:

1. **row read**: the time to merely read the same rows, through the builder's own reader
   (``stream_liability_rows``, a psycopg server-side cursor) and through the ORM stream
   (``stream_user_liabilities``); the faster of the two is the baseline;
2. **build**: ``build_tree_in_postgres`` (snapshot, streaming, hashing in worker processes,
   ``COPY`` of leaf groups and levels, one commit), and its ratio to (1);
3. **peak memory** of the build: the RSS high-water mark of this process (which runs the build;
   ``getrusage``) plus those of its hash worker processes (``VmHWM``, sampled while they run),
   and, for the record, the peak of Python allocations in this process (tracemalloc, a separate build);
4. **inclusion proof** latency: serve (leaf group + stored path) and verify, for 200 random users.

Reads and builds alternate for ``--rounds`` rounds and the best of each is kept, so both sides see
the same machine. Not a test. Needs PostgreSQL at ``TEST_PG_URL`` (default local trust auth).
The last line is ``RESULT por_build_s=… row_read_s=… peak_mib=…``.

Usage::

    python -m bench.proof_of_reserves [--users 1000000] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import statistics
import time
import tracemalloc
import uuid

os.environ.setdefault("APP_ENV", "test")

from sqlalchemy import text  # noqa: E402

from activities.liability_tree import DEFAULT_HASH_WORKERS, build_tree_in_postgres  # noqa: E402
from config.settings import load_settings  # noqa: E402
from db import migrate  # noqa: E402
from db.queries import reserve_proofs as proofs  # noqa: E402
from db.queries.reserves import stream_liability_rows, stream_user_liabilities  # noqa: E402
from db.session import make_async_engine, make_sessionmaker  # noqa: E402
from domain.merkle_sum import verify_inclusion  # noqa: E402
from tests.fixtures.postgres import create_database, drop_database  # noqa: E402

TOKEN = "CBENCHTOKEN"


def own_high_water_mib() -> float:
    """This process's RSS high-water mark, MiB (Linux: ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/children") as f:
                found |= {int(c) for c in f.read().split()}
        except FileNotFoundError:
            pass
    return found


def _vm_hwm_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0


class ChildPeaks:
    """Samples the RSS high-water mark (VmHWM) of this process's children (the hash workers)
    every 20 ms while a build runs; ``total_mib`` sums the workers of one build (they run at once)."""

    def __init__(self) -> None:
        self.peaks: dict[int, int] = {}
        self._task: asyncio.Task | None = None

    async def _sample(self) -> None:
        while True:
            for pid in _children(os.getpid()):
                self.peaks[pid] = max(self.peaks.get(pid, 0), _vm_hwm_kib(pid))
            await asyncio.sleep(0.02)

    def __enter__(self) -> ChildPeaks:
        self._task = asyncio.get_running_loop().create_task(self._sample())
        return self

    def __exit__(self, *exc) -> None:
        assert self._task is not None
        self._task.cancel()

    @property
    def total_mib(self) -> float:
        return sum(self.peaks.values()) / 1024


async def seed(sessions, users: int) -> None:
    async with sessions() as s, s.begin():
        await s.execute(text(
            "INSERT INTO users (email, password_hash) SELECT 'u' || g || '@bench.example', 'x' FROM generate_series(1, :n) g"
        ), {"n": users})
        # Each user's iSTSi in the books (the account rows as the ledger trigger leaves them).
        await s.execute(text(
            "INSERT INTO ledger_accounts (key, ledger, code, flags, user_id, token_address, credits_posted) "
            "SELECT 'user_istsi:' || id, 2, 'user_istsi', 2, id, :t, (random() * 1e8)::bigint FROM users"
        ), {"t": TOKEN})
    async with sessions() as s, s.begin():  # statistics, as autovacuum would gather them
        await s.execute(text("ANALYZE"))


async def new_proof(sessions) -> uuid.UUID:
    proof_id = uuid.uuid4()
    async with sessions() as s, s.begin():
        await s.execute(text("INSERT INTO reserve_proofs (id, btc_height, stellar_ledger) VALUES (:i, 1, 1)"), {"i": proof_id})
    return proof_id


async def read_raw(sessions) -> tuple[float, int]:
    start, rows = time.perf_counter(), 0
    async with sessions() as s:
        async for batch in stream_liability_rows(s, token_address=TOKEN):
            rows += len(batch)
    return time.perf_counter() - start, rows


async def read_orm(sessions) -> tuple[float, int]:
    start, rows = time.perf_counter(), 0
    async with sessions() as s:
        async for _ in stream_user_liabilities(s, token_address=TOKEN):
            rows += 1
    return time.perf_counter() - start, rows


async def build(sessions):
    proof_id = await new_proof(sessions)
    with ChildPeaks() as workers:
        start = time.perf_counter()
        tree = await build_tree_in_postgres(sessions, proof_id=proof_id, token_address=TOKEN)
        seconds = time.perf_counter() - start
    return seconds, proof_id, tree, workers


async def inclusion_times(sessions, proof_id, tree, samples: int) -> list[float]:
    async with sessions() as s:
        user_ids = (await s.execute(text(
            "SELECT user_id FROM ledger_accounts WHERE code = 'user_istsi' ORDER BY random() LIMIT :n"
        ), {"n": samples})).scalars().all()
    times = []
    for user_id in user_ids:
        start = time.perf_counter()
        async with sessions() as s:  # as GET /api/reserves/proof does: the proof row, then the path
            row = await proofs.get(s, proof_id=proof_id)
            proof = await proofs.inclusion_proof(s, proof=row, user_id=user_id)
        assert proof is not None
        assert verify_inclusion(proof, root_hash=bytes.fromhex(tree.root_hash), root_sum=tree.tree_total_sats)
        times.append(time.perf_counter() - start)
    return times


async def run(users: int, rounds: int) -> None:
    name = f"custody_bench_{uuid.uuid4().hex[:8]}"
    url = create_database(name)
    try:
        settings = load_settings(database={"url": url})
        migrate.upgrade(settings)
        engine = make_async_engine(settings.database)
        sessions = make_sessionmaker(engine)
        t0 = time.perf_counter()
        await seed(sessions, users)
        print(f"seeded {users:,} users with iSTSi accounts in {time.perf_counter() - t0:.1f} s")
        await read_raw(sessions)  # warm the cache so every timing reads from memory
        raw_s, orm_s, build_s, worker_mib = [], [], [], 0.0
        for _ in range(rounds):
            raw_s.append((await read_raw(sessions))[0])
            orm_s.append((await read_orm(sessions))[0])
            seconds, proof_id, tree, workers = await build(sessions)
            build_s.append(seconds)
            worker_mib = max(worker_mib, workers.total_mib)
        own_mib = own_high_water_mib()
        peak_mib = own_mib + worker_mib
        _, rows = await read_raw(sessions)
        assert rows == tree.leaf_count == users
        traced_id = await new_proof(sessions)
        tracemalloc.start()
        await build_tree_in_postgres(sessions, proof_id=traced_id, token_address=TOKEN)
        _, traced_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        times = await inclusion_times(sessions, proof_id, tree, 200)
        async with sessions() as s:
            stored = (await s.execute(text(
                "SELECT (SELECT count(*) FROM proof_leaf_chunks WHERE proof_id = :p), "
                "(SELECT count(*) FROM reserve_proof_levels WHERE proof_id = :p), "
                "pg_size_pretty(pg_total_relation_size('proof_leaf_chunks') / :n)"
            ), {"p": proof_id, "n": rounds + 1})).one()
        await engine.dispose()
        row_read = min(min(raw_s), min(orm_s))
        best = min(build_s)
        print(f"row read, builder's reader:   {', '.join(f'{x:.2f}' for x in raw_s)} s ({rows / min(raw_s):,.0f} rows/s)")
        print(f"row read, ORM stream:         {', '.join(f'{x:.2f}' for x in orm_s)} s")
        print(f"tree build + store:           {', '.join(f'{x:.2f}' for x in build_s)} s; best {best:.2f} s, "
              f"ratio build/read {best / row_read:.2f}x ({DEFAULT_HASH_WORKERS} hash workers, {os.cpu_count()} cores)")
        print(f"  depth {tree.tree_depth}, total {tree.tree_total_sats:,} sats, root {tree.root_hash[:16]}…, "
              f"{stored[0]:,} leaf groups + {stored[1]} level chunks, about {stored[2]} per proof")
        print(f"peak RSS of the build:        {peak_mib:.1f} MiB (RSS high-water marks: this process {own_mib:.1f}, "
              f"getrusage; + its {DEFAULT_HASH_WORKERS} hash workers together {worker_mib:.1f}, VmHWM)")
        print(f"peak Python allocations:      {traced_peak / 2**20:.1f} MiB (tracemalloc, this process, separate build)")
        print(f"inclusion proof (serve+verify): p50 {statistics.median(times) * 1e3:.2f} ms, "
              f"p95 {statistics.quantiles(times, n=20)[18] * 1e3:.2f} ms over {len(times)} users")
        print(f"RESULT por_build_s={best:.2f} row_read_s={row_read:.2f} peak_mib={peak_mib:.1f}")
    finally:
        drop_database(name)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    asyncio.run(run(args.users, args.rounds))


if __name__ == "__main__":
    main()
