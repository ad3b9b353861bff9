"""Proof-of-reserves benchmark (issue 9): the liability tree over N balances streamed from Postgres.

Prints, for N users (default 1,000,000) in a fresh migrated database:

1. the time to merely stream the same rows (``stream_user_liabilities``, server-side cursor);
2. the time to build and store the tree (``build_tree_in_postgres``: hashing, COPY of leaves,
   level chunks) and the ratio to (1);
3. peak memory of the build: Python allocations (tracemalloc, a second build) and RSS growth;
4. time to serve one inclusion proof (leaf lookup + sibling path + verification), over 200 users.

Not a test. Needs PostgreSQL at ``TEST_PG_URL`` (default local trust auth), like the tests.

Usage::

    python -m bench.proof_of_reserves [--users 1000000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import resource
import statistics
import time
import tracemalloc
import uuid

os.environ.setdefault("APP_ENV", "test")

from sqlalchemy import text  # noqa: E402

from activities.liability_tree import build_tree_in_postgres  # noqa: E402
from config.settings import load_settings  # noqa: E402
from db import migrate  # noqa: E402
from db.queries import reserve_proofs as proofs  # noqa: E402
from db.queries.reserves import stream_user_liabilities  # noqa: E402
from db.session import make_async_engine, make_sessionmaker  # noqa: E402
from domain.merkle_sum import InclusionProof, verify_inclusion  # noqa: E402
from tests.fixtures.postgres import create_database, drop_database  # noqa: E402

TOKEN = "CBENCHTOKEN"


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


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
    async with sessions() as s:
        await s.execute(text("ANALYZE"))


async def new_proof(sessions) -> uuid.UUID:
    proof_id = uuid.uuid4()
    async with sessions() as s, s.begin():
        await s.execute(text("INSERT INTO reserve_proofs (id, btc_height, stellar_ledger) VALUES (:i, 1, 1)"), {"i": proof_id})
    return proof_id


async def read_only(sessions) -> tuple[float, int]:
    start, rows = time.perf_counter(), 0
    async with sessions() as s:
        async for _ in stream_user_liabilities(s, token_address=TOKEN):
            rows += 1
    return time.perf_counter() - start, rows


async def inclusion_times(sessions, proof_id, tree, samples: int) -> list[float]:
    async with sessions() as s:
        user_ids = (await s.execute(text("SELECT user_id FROM reserve_proof_leaves WHERE proof_id = :p"), {"p": proof_id})).scalars().all()
    times = []
    for user_id in random.sample(list(user_ids), min(samples, len(user_ids))):
        start = time.perf_counter()
        async with sessions() as s:
            leaf = await proofs.get_leaf(s, proof_id=proof_id, user_id=user_id)
            siblings = await proofs.sibling_path(s, proof_id=proof_id, position=leaf.position, depth=tree.tree_depth)
        proof = InclusionProof(user_id, bytes(leaf.salt), leaf.balance, leaf.position, siblings)
        assert verify_inclusion(proof, root_hash=bytes.fromhex(tree.root_hash), root_sum=tree.tree_total_sats)
        times.append(time.perf_counter() - start)
    return times


async def run(users: int) -> None:
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
        await read_only(sessions)  # warm the cache so both timings read from memory
        read_s, rows = await read_only(sessions)
        rss_before = rss_mib()
        build_start = time.perf_counter()
        tree = await build_tree_in_postgres(sessions, proof_id=await new_proof(sessions), token_address=TOKEN)
        build_s = time.perf_counter() - build_start
        rss_growth = rss_mib() - rss_before
        traced_id = await new_proof(sessions)
        tracemalloc.start()
        traced = await build_tree_in_postgres(sessions, proof_id=traced_id, token_address=TOKEN)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        times = await inclusion_times(sessions, traced_id, traced, 200)
        print(f"rows read (stream only):      {rows:,} in {read_s:.2f} s ({rows / read_s:,.0f} rows/s)")
        print(f"tree build + store:           {build_s:.2f} s  ratio build/read {build_s / read_s:.1f}x")
        print(f"  depth {tree.tree_depth}, total {tree.tree_total_sats:,} sats, root {tree.root_hash[:16]}…")
        print(f"peak Python allocations:      {peak / 2**20:.1f} MiB (tracemalloc, second build)")
        print(f"RSS growth during build:      {rss_growth:.1f} MiB")
        print(f"inclusion proof (serve+verify): p50 {statistics.median(times) * 1e3:.2f} ms, "
              f"p95 {statistics.quantiles(times, n=20)[18] * 1e3:.2f} ms over {len(times)} users")
        await engine.dispose()
    finally:
        drop_database(name)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=1_000_000)
    args = parser.parse_args()
    asyncio.run(run(args.users))


if __name__ == "__main__":
    main()
