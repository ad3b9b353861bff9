"""The streamed liability tree (activities/liability_tree.py) against the in-memory reference
(domain/merkle_sum.py), on real Postgres: random balances, odd counts, 0 and 1 leaves, group and
batch boundaries, hash worker processes, crashes and retries mid-write, old-layout proofs."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from activities import liability_tree
from activities.liability_tree import TreeNotBuildable, build_tree_in_postgres
from activities.tree_hasher import HashWorkerDied, TreeHasher
from db.queries import reserve_proofs as proofs
from db.queries.reserves import (
    EXTERNAL_HOLDERS_LEAF,
    export_snapshot,
    import_snapshot,
    stream_liability_rows,
    user_id_quantiles,
)
from domain.merkle_batch import GROUP_LEAVES, GROUP_LEVELS, split_records
from domain.merkle_sum import PADDING, StreamingBuilder, SumOutOfRange, build_tree, leaf, verify_inclusion
from tests.fixtures.postgres import migrated_database, sessions_for

BOUNDARIES = [0, 1, 2, 3, 5, GROUP_LEAVES - 1, GROUP_LEAVES, GROUP_LEAVES + 1, 2 * GROUP_LEAVES + 1, 3 * GROUP_LEAVES]


@pytest.fixture(scope="module")
def tree_db_url():
    """A migrated database of this module's own (the liability query reads every holder)."""
    with migrated_database("custody_tree") as url:
        yield url


def run(url: str, body):
    """Run ``body(sessions)`` in a fresh event loop with its own engine (hypothesis drives sync tests)."""

    async def main():
        async with sessions_for(url) as sessions:
            return await body(sessions)

    return asyncio.run(main())


async def seed(sessions, balances: list[int], rng: random.Random) -> tuple[str, list[uuid.UUID]]:
    """Holders of a fresh token with ``balances`` (satoshis; a negative one is an account without
    the no-overdraft flag, debited past its credits); returns the token and the user ids."""
    token = f"CTEST{uuid.uuid4().hex}"
    ids = [uuid.uuid4() for _ in balances]  # fresh per call: hypothesis replays seeds
    async with sessions() as s, s.begin():
        if ids:
            await s.execute(text(
                "INSERT INTO users (id, email, password_hash) "
                "SELECT u, u || '@tree.example', 'x' FROM unnest(CAST(:ids AS uuid[])) AS u"
            ), {"ids": ids})
            await s.execute(text(
                "INSERT INTO ledger_accounts (key, ledger, code, flags, user_id, token_address, credits_posted, "
                "debits_posted) SELECT 'user_istsi:' || u, 2, 'user_istsi', CASE WHEN b < 0 THEN 0 ELSE 2 END, u, :t, "
                "greatest(b, 0), greatest(-b, 0) "
                "FROM unnest(CAST(:ids AS uuid[]), CAST(:bals AS bigint[])) AS x(u, b)"
            ), {"ids": ids, "bals": balances, "t": token})
    return token, ids


async def new_proof(sessions, status: str = "building") -> uuid.UUID:
    proof_id = uuid.uuid4()
    async with sessions() as s, s.begin():
        await s.execute(text("INSERT INTO reserve_proofs (id, status, btc_height, stellar_ledger) VALUES (:i, :s, 1, 1)"),
                        {"i": proof_id, "s": status})
    return proof_id


async def stored_entries(sessions, proof_id) -> list[tuple[uuid.UUID, bytes, int]]:
    """``(user_id, salt, balance)`` of every stored leaf, in position order."""
    async with sessions() as s:
        blobs = (await s.execute(text("SELECT leaves FROM proof_leaf_chunks WHERE proof_id = :p ORDER BY chunk"),
                                 {"p": proof_id})).scalars().all()
    ids, salts, balances = split_records(b"".join(bytes(b) for b in blobs))
    return [(uuid.UUID(bytes=i), s, b) for i, s, b in zip(ids, salts, balances, strict=True)]


async def tree_rows(sessions, proof_id) -> tuple[int, int]:
    async with sessions() as s:
        leaves = (await s.execute(text("SELECT count(*) FROM proof_leaf_chunks WHERE proof_id = :p"), {"p": proof_id})).scalar_one()
        levels = (await s.execute(text("SELECT count(*) FROM reserve_proof_levels WHERE proof_id = :p"), {"p": proof_id})).scalar_one()
    return leaves, levels


async def check_against_reference(sessions, proof_id, result, user_ids, balances, *, samples: int | None = None) -> None:
    """The stored tree equals :func:`build_tree` over the stored salts, in user-id order, and every
    (sampled) user's served inclusion proof is the reference's and verifies."""
    entries = await stored_entries(sessions, proof_id)
    expected = sorted(zip(user_ids, balances, strict=True), key=lambda x: x[0].bytes)
    assert [(u, b) for u, _, b in entries] == expected
    reference = build_tree(entries)
    assert (result.root_hash, result.tree_total_sats) == (reference.root.hash.hex(), reference.root.sum)
    assert result.leaf_count == len(entries) and result.tree_depth == len(reference.levels) - 1
    async with sessions() as s:
        for level in range(GROUP_LEVELS, len(reference.levels)):
            stored = (await s.execute(text(
                "SELECT string_agg(nodes, ''::bytea ORDER BY chunk) FROM reserve_proof_levels WHERE proof_id = :p AND level = :l"
            ), {"p": proof_id, "l": level})).scalar_one()
            assert bytes(stored) == b"".join(n.pack() for n in reference.levels[level])
        row = await proofs.get(s, proof_id=proof_id)
        positions = range(len(entries)) if samples is None else random.sample(range(len(entries)), min(samples, len(entries)))
        for position in positions:
            user_id, salt, balance = entries[position]
            proof = await proofs.inclusion_proof(s, proof=row, user_id=user_id)
            assert proof is not None and proof.position == position and proof.salt == salt
            assert proof.siblings == reference.siblings(position)
            assert verify_inclusion(proof, root_hash=reference.root.hash, root_sum=reference.root.sum)
        assert await proofs.inclusion_proof(s, proof=row, user_id=uuid.uuid4()) is None


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    count=st.one_of(st.sampled_from(BOUNDARIES), st.integers(0, 5 * GROUP_LEAVES + 3)),
    batch_rows=st.sampled_from([1, 7, GROUP_LEAVES, 300, 2 * GROUP_LEAVES, 16_384]),
    hash_workers=st.sampled_from([0, 0, 1, 2]),
    seed_value=st.integers(0, 2**32),
)
def test_streamed_build_matches_the_in_memory_tree(tree_db_url, monkeypatch, count, batch_rows, hash_workers, seed_value):
    rng = random.Random(seed_value)
    balances = [rng.choice([0, 1, rng.randrange(2**40), rng.randrange(10**8)]) for _ in range(count)]
    monkeypatch.setattr(liability_tree, "BATCH_ROWS", batch_rows)

    async def body(sessions):
        token, ids = await seed(sessions, balances, rng)
        proof_id = await new_proof(sessions)
        result = await build_tree_in_postgres(sessions, proof_id=proof_id, token_address=token, hash_workers=hash_workers)
        await check_against_reference(sessions, proof_id, result, ids, balances, samples=40)

    run(tree_db_url, body)


def test_empty_and_single_leaf_trees(tree_db_url):
    async def body(sessions):
        token, _ = await seed(sessions, [], random.Random(1))
        empty = await build_tree_in_postgres(sessions, proof_id=await new_proof(sessions), token_address=token)
        assert (empty.root_hash, empty.tree_total_sats, empty.leaf_count, empty.tree_depth) == (PADDING.hash.hex(), 0, 0, 0)
        token, ids = await seed(sessions, [42], random.Random(2))
        proof_id = await new_proof(sessions)
        one = await build_tree_in_postgres(sessions, proof_id=proof_id, token_address=token)
        (_, salt, _), = await stored_entries(sessions, proof_id)
        assert one.root_hash == leaf(salt, ids[0], 42).hash.hex() and one.tree_depth == 0
        await check_against_reference(sessions, proof_id, one, ids, [42])

    run(tree_db_url, body)


def test_a_crash_mid_write_leaves_nothing_and_the_retry_builds_the_whole_tree(tree_db_url, monkeypatch):
    """The writer dies after the first leaf groups went out: the transaction rolls back (no
    leaves, no levels, no root, still ``building``); the retry writes every leaf once."""
    balances = [random.Random(3).randrange(10**8) for _ in range(7 * GROUP_LEAVES + 5)]
    monkeypatch.setattr(liability_tree, "BATCH_ROWS", GROUP_LEAVES)
    real_copy = proofs.copy_leaf_groups
    calls = 0

    async def crashing_copy(*args, **kwargs):
        nonlocal calls
        calls += 1
        if calls == 3:
            raise ConnectionResetError("worker killed mid-write")
        return await real_copy(*args, **kwargs)

    async def body(sessions):
        token, ids = await seed(sessions, balances, random.Random(4))
        proof_id = await new_proof(sessions)
        monkeypatch.setattr(proofs, "copy_leaf_groups", crashing_copy)
        with pytest.raises(ConnectionResetError):
            await build_tree_in_postgres(sessions, proof_id=proof_id, token_address=token, hash_workers=1)
        assert await tree_rows(sessions, proof_id) == (0, 0)
        async with sessions() as s:
            row = await proofs.get(s, proof_id=proof_id)
            assert row.root_hash is None and row.status == "building" and row.leaf_group_leaves is None
        monkeypatch.setattr(proofs, "copy_leaf_groups", real_copy)
        result = await build_tree_in_postgres(sessions, proof_id=proof_id, token_address=token, hash_workers=1)
        await check_against_reference(sessions, proof_id, result, ids, balances, samples=50)
        # A retry after the commit (the activity's completion was lost) returns the stored tree.
        salts = [s for _, s, _ in await stored_entries(sessions, proof_id)]
        again = await build_tree_in_postgres(sessions, proof_id=proof_id, token_address=token)
        assert again == result and [s for _, s, _ in await stored_entries(sessions, proof_id)] == salts
        assert await tree_rows(sessions, proof_id) == (8, len(range(GROUP_LEVELS, result.tree_depth + 1)))

    run(tree_db_url, body)


def test_a_killed_hash_worker_fails_the_build_cleanly(tree_db_url, monkeypatch):
    balances = list(range(9 * GROUP_LEAVES))
    monkeypatch.setattr(liability_tree, "BATCH_ROWS", GROUP_LEAVES)
    started: list[TreeHasher] = []
    real_enter = TreeHasher.__aenter__
    real_copy = proofs.copy_leaf_groups

    async def recording_enter(self):
        started.append(self)
        return await real_enter(self)

    killed: list[int] = []

    async def kill_after_first(*args, **kwargs):
        written = await real_copy(*args, **kwargs)
        # Once, after the first write: groups already answered may still be written after it.
        for hasher in started if not killed else ():
            killed.append(hasher._proc.pid)
            os.kill(hasher._proc.pid, signal.SIGKILL)
        return written

    async def body(sessions):
        token, ids = await seed(sessions, balances, random.Random(5))
        proof_id = await new_proof(sessions)
        monkeypatch.setattr(TreeHasher, "__aenter__", recording_enter)
        monkeypatch.setattr(proofs, "copy_leaf_groups", kill_after_first)
        with pytest.raises(HashWorkerDied):
            await build_tree_in_postgres(sessions, proof_id=proof_id, token_address=token, hash_workers=2)
        assert await tree_rows(sessions, proof_id) == (0, 0)
        monkeypatch.setattr(proofs, "copy_leaf_groups", real_copy)
        result = await build_tree_in_postgres(sessions, proof_id=proof_id, token_address=token, hash_workers=2)
        await check_against_reference(sessions, proof_id, result, ids, balances, samples=20)

    run(tree_db_url, body)


@pytest.mark.parametrize(("count", "hash_workers"), [(2 * GROUP_LEAVES, 1), (2 * GROUP_LEAVES, 0), (3, 0)])
def test_a_negative_liability_stores_nothing(tree_db_url, count, hash_workers):
    """In a whole group (hashed by the worker or inline) or in the partial last group."""

    async def body(sessions):
        token, _ = await seed(sessions, [-1] + [5] * (count - 1), random.Random(6))
        proof_id = await new_proof(sessions)
        with pytest.raises(SumOutOfRange):
            await build_tree_in_postgres(sessions, proof_id=proof_id, token_address=token, hash_workers=hash_workers)
        assert await tree_rows(sessions, proof_id) == (0, 0)
        async with sessions() as s:
            assert (await proofs.get(s, proof_id=proof_id)).root_hash is None

    run(tree_db_url, body)


def test_a_signed_proof_without_a_tree_is_never_rebuilt(tree_db_url):
    async def body(sessions):
        token, _ = await seed(sessions, [5, 6], random.Random(7))
        with pytest.raises(TreeNotBuildable):
            await build_tree_in_postgres(sessions, proof_id=await new_proof(sessions, "signed"), token_address=token)
        with pytest.raises(TreeNotBuildable):
            await build_tree_in_postgres(sessions, proof_id=uuid.uuid4(), token_address=token)

    run(tree_db_url, body)


def test_proofs_built_before_grouped_leaves_are_still_served(tree_db_url):
    """A proof stored the old way (a row per leaf, every level; ``leaf_group_leaves`` NULL)."""
    rng = random.Random(8)
    entries = sorted(((uuid.UUID(int=rng.getrandbits(128)), os.urandom(32), rng.randrange(10**6)) for _ in range(37)),
                     key=lambda e: e[0].bytes)

    async def body(sessions):
        proof_id = await new_proof(sessions)
        builder = StreamingBuilder(4)
        chunks = [c for user_id, salt, balance in entries for c in builder.add(leaf(salt, user_id, balance))]
        root, rest = builder.finish()
        async with sessions() as s, s.begin():
            for position, (user_id, salt, balance) in enumerate(entries):
                await s.execute(text("INSERT INTO reserve_proof_leaves VALUES (:p, :u, :pos, :s, :b)"),
                                {"p": proof_id, "u": user_id, "pos": position, "s": salt, "b": balance})
            for c in chunks + rest:
                await s.execute(text("INSERT INTO reserve_proof_levels VALUES (:p, :l, :c, :n, 4)"),
                                {"p": proof_id, "l": c.level, "c": c.chunk, "n": c.data})
            await proofs.update_proof(s, proof_id=proof_id, root_hash=root.hash.hex(), tree_total_sats=root.sum,
                                      leaf_count=len(entries), tree_depth=builder.depth)
        async with sessions() as s:
            row = await proofs.get(s, proof_id=proof_id)
            assert row.leaf_group_leaves is None
            for user_id, _, balance in entries:
                proof = await proofs.inclusion_proof(s, proof=row, user_id=user_id)
                assert proof is not None and proof.balance == balance
                assert verify_inclusion(proof, root_hash=root.hash, root_sum=root.sum)

    run(tree_db_url, body)


async def seed_unpaid_and_outside_holders(sessions, token: str, unpaid: list[tuple[uuid.UUID, int]]) -> uuid.UUID:
    """Add burned-but-unpaid withdrawals ``(user, sats)``, a user whose only liability is an unpaid
    withdrawal of 9,000 sats, and 4,242 units held outside the engine; returns that user's id.
    Undo with :func:`remove_unpaid_and_outside_holders` (the module's other trees have neither)."""
    only_unpaid = uuid.uuid4()
    async with sessions() as s, s.begin():
        await s.execute(text("INSERT INTO users (id, email, password_hash) VALUES (:u, :u || '@tree.example', 'x')"),
                        {"u": only_unpaid})
        for user, amount in [*unpaid, (only_unpaid, 9_000)]:
            await s.execute(text(
                "INSERT INTO operations (user_id, operation_type, status, amount, token_address, stellar_tx_hash) "
                "VALUES (:u, 'withdrawal', 'processing', :a, :t, 'ab')"), {"u": user, "a": amount, "t": token})
        await s.execute(text(
            "INSERT INTO ledger_accounts (key, ledger, code, flags, credits_posted) "
            "VALUES ('istsi_external', 2, 'istsi_external', 0, 4242) ON CONFLICT (key) DO NOTHING"))
    return only_unpaid


async def remove_unpaid_and_outside_holders(sessions) -> None:
    async with sessions() as s, s.begin():
        await s.execute(text("DELETE FROM operations WHERE operation_type = 'withdrawal'"))
        await s.execute(text("DELETE FROM ledger_accounts WHERE key = 'istsi_external'"))


async def analyze(sessions) -> None:
    """Gather the planner's statistics, as autovacuum does (the builder cuts its key ranges by them)."""
    async with sessions() as s, s.begin():
        await s.execute(text("ANALYZE ledger_accounts"))


def test_key_ranges_in_one_snapshot_read_the_same_rows_as_one_stream(tree_db_url):
    """Every user, the non-user holders and a user with only an unpaid withdrawal land in exactly
    one range, whole (balance + unpaid), and a write after the snapshot is seen by no range."""
    async def rows_of(streams) -> list[tuple[bytes, int]]:
        return [tuple(row) for stream in streams async for batch in stream for row in batch]

    async def body(sessions):
        rng = random.Random(7)
        token, ids = await seed(sessions, [rng.randrange(10**6) for _ in range(600)], rng)
        only_unpaid = await seed_unpaid_and_outside_holders(sessions, token, [(ids[0], 5_000), (ids[300], 7)])
        await analyze(sessions)
        async with sessions() as reader, sessions() as other:
            await reader.connection(execution_options={"isolation_level": "REPEATABLE READ"})
            whole = await rows_of([stream_liability_rows(reader, token_address=token)])
            cuts = await user_id_quantiles(reader, 3)
            assert len(cuts) == 2 and cuts == sorted(cuts)
            snapshot = await export_snapshot(reader)
            await other.connection(execution_options={"isolation_level": "REPEATABLE READ"})
            await import_snapshot(other, snapshot)
            async with sessions() as writer, writer.begin():  # after the snapshot: seen by no range
                await writer.execute(text(
                    "UPDATE ledger_accounts SET credits_posted = credits_posted + 1 WHERE user_id = :u"), {"u": ids[1]})
            ranges = list(zip([None, *cuts], [*cuts, None], strict=True))
            ranged = await rows_of([
                stream_liability_rows(other if k % 2 else reader, token_address=token, key_range=r)
                for k, r in enumerate(ranges)
            ])
        assert ranged == whole and len(whole) == 600 + 2
        by_id = dict(whole)
        assert by_id[only_unpaid.bytes] == 9_000 and by_id[EXTERNAL_HOLDERS_LEAF.bytes] == 4242
        with pytest.raises(ValueError):
            await import_snapshot(other, "x'; DROP TABLE users; --")

    try:
        run(tree_db_url, body)
    finally:
        run(tree_db_url, remove_unpaid_and_outside_holders)


@pytest.mark.parametrize("count", [GROUP_LEAVES * 3 + 17, 700])
def test_a_build_over_key_ranges_matches_the_in_memory_tree(tree_db_url, monkeypatch, count):
    """With statistics, two hash workers read two id ranges on two connections in one snapshot;
    small batches put group and batch boundaries on both sides of the cut."""
    ranges_seen = []
    streams = liability_tree._range_streams

    async def recording(*args, **kwargs):
        found = await streams(*args, **kwargs)
        ranges_seen.append(len(found))
        return found

    monkeypatch.setattr(liability_tree, "_range_streams", recording)
    monkeypatch.setattr(liability_tree, "BATCH_ROWS", 100)

    async def body(sessions):
        rng = random.Random(count)
        balances = [rng.randrange(10**8) for _ in range(count)]
        token, ids = await seed(sessions, balances, rng)
        await analyze(sessions)
        proof_id = await new_proof(sessions)
        result = await build_tree_in_postgres(sessions, proof_id=proof_id, token_address=token, hash_workers=2)
        await check_against_reference(sessions, proof_id, result, ids, balances, samples=40)

    run(tree_db_url, body)
    assert ranges_seen == [2]
