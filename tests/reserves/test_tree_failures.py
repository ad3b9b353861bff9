"""How the liability tree builder fails (activities/liability_tree.py): cancelled by Temporal at
any moment, a range's query failing, a writer failing while hash answers are in flight, corrupt
books. Each must raise its error at once and leave no stored tree, no pending task, no connection
checked out; and key ranges cut on awkward ids must keep every liability exactly once."""
from __future__ import annotations

import asyncio
import gc
import random
import time
import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from activities import liability_tree, tree_hasher
from activities.liability_tree import build_tree_in_postgres
from db.queries import reserve_proofs as proofs
from domain.merkle_batch import GROUP_LEAVES
from domain.merkle_sum import SumOutOfRange
from tests.fixtures.postgres import migrated_database
from tests.reserves.test_streamed_tree import (
    analyze,
    check_against_reference,
    new_proof,
    remove_unpaid_and_outside_holders,
    run,
    seed,
    seed_unpaid_and_outside_holders,
    tree_rows,
)


@pytest.fixture(scope="module")
def tree_db_url():
    with migrated_database("custody_tree_failures") as url:
        yield url


def _others():
    me = asyncio.current_task()
    return [t for t in asyncio.all_tasks() if t is not me and not t.done()]


def _checked_out(sessions) -> int:
    return sessions.kw["bind"].sync_engine.pool.checkedout()


async def start_two_range_build(sessions, balances: list[int], errors: list) -> tuple:
    """Seed ``balances``, gather statistics and start a build over two key ranges as a task;
    the event loop's unhandled errors go to ``errors``. Returns ``(token, ids, proof_id, task)``."""
    asyncio.get_running_loop().set_exception_handler(lambda loop, ctx: errors.append(ctx))
    token, ids = await seed(sessions, balances, random.Random(2))
    await analyze(sessions)
    proof_id = await new_proof(sessions)
    build = asyncio.ensure_future(build_tree_in_postgres(sessions, proof_id=proof_id, token_address=token, hash_workers=2))
    return token, ids, proof_id, build


@pytest.mark.parametrize("delay", [0.0, 0.05, 0.2])
def test_a_cancelled_build_fails_cleanly(tree_db_url, monkeypatch, delay):
    """Temporal cancels: CancelledError comes out, nothing is stored, no task or connection is left."""
    monkeypatch.setattr(liability_tree, "BATCH_ROWS", GROUP_LEAVES)
    balances = [random.Random(1).randrange(10**8) for _ in range(200 * GROUP_LEAVES + 3)]
    errors = []

    async def body(sessions):
        token, ids, proof_id, build = await start_two_range_build(sessions, balances, errors)
        await asyncio.sleep(delay)
        build.cancel()
        t0 = time.monotonic()
        outcome = (await asyncio.gather(build, return_exceptions=True))[0]
        assert time.monotonic() - t0 < 3.0  # the cancel comes out promptly
        await asyncio.sleep(0.2)
        assert not _others()
        assert _checked_out(sessions) == 0
        if isinstance(outcome, BaseException):
            assert isinstance(outcome, asyncio.CancelledError), repr(outcome)
            assert await tree_rows(sessions, proof_id) == (0, 0)
            outcome = await build_tree_in_postgres(sessions, proof_id=proof_id, token_address=token, hash_workers=2)
        # else the build won the race against the cancel (a fast moment): its tree must be whole
        await check_against_reference(sessions, proof_id, outcome, ids, balances, samples=5)

    run(tree_db_url, body)
    gc.collect()
    assert not errors


def test_a_failed_snapshot_import_leaves_no_task(tree_db_url, monkeypatch):
    """_range_streams raises (pool timeout, import error, Postgres error) after _Pipeline started its writer task."""
    async def failing_import(session, snapshot_id):
        raise RuntimeError("import failed")

    monkeypatch.setattr(liability_tree, "import_snapshot", failing_import)

    async def body(sessions):
        token, _ = await seed(sessions, list(range(3 * GROUP_LEAVES)), random.Random(3))
        await analyze(sessions)
        proof_id = await new_proof(sessions)
        with pytest.raises(RuntimeError):
            await build_tree_in_postgres(sessions, proof_id=proof_id, token_address=token, hash_workers=2)
        left = _others()
        assert not left, left

    run(tree_db_url, body)


def test_a_negative_liability_with_batches_in_flight_fails_fast(tree_db_url, monkeypatch):
    """SumOutOfRange from a worker while other batches are in flight: the cancelled answers make the
    reader task die (InvalidStateError), the worker blocks on stdout and each exit waits 5 s."""
    monkeypatch.setattr(liability_tree, "BATCH_ROWS", 16 * GROUP_LEAVES)
    errors = []

    async def body(sessions):
        asyncio.get_running_loop().set_exception_handler(lambda loop, ctx: errors.append(ctx))
        token, _ = await seed(sessions, [-1] + [5] * (200 * GROUP_LEAVES), random.Random(4))
        proof_id = await new_proof(sessions)
        t0 = time.monotonic()
        with pytest.raises(SumOutOfRange):
            await build_tree_in_postgres(sessions, proof_id=proof_id, token_address=token, hash_workers=2)
        took = time.monotonic() - t0
        assert took < 3, took

    run(tree_db_url, body)
    gc.collect()
    assert not errors


ORPHAN_ACCOUNT = text(
    "INSERT INTO ledger_accounts (key, ledger, code, flags, user_id, token_address, credits_posted) "
    "VALUES (:k, 2, 'user_istsi', 2, NULL, :t, 777)")
USER_CHECK = "ck_ledger_accounts_user_istsi_has_user"


def test_a_user_account_without_user_id_is_refused_and_would_fail_the_build(tree_db_url):
    """The schema refuses a ``user_istsi`` account without a user (migration 0019). Should the
    books hold one anyway (the check dropped by hand, a restore), the liability must stop the
    proof, never be dropped from it, whether or not the users are read in key ranges."""
    async def body(sessions):
        token, _ = await seed(sessions, [10] * 500, random.Random(5))
        key = {"k": f"user_istsi:orphan{uuid.uuid4()}", "t": token}
        with pytest.raises(IntegrityError, match=USER_CHECK):
            async with sessions() as s, s.begin():
                await s.execute(ORPHAN_ACCOUNT, key)
        async with sessions() as s, s.begin():  # corrupt books, in this module's own database
            await s.execute(text(f"ALTER TABLE ledger_accounts DROP CONSTRAINT {USER_CHECK}"))
            await s.execute(ORPHAN_ACCOUNT, key)
        await analyze(sessions)
        try:
            for workers in (1, 2):  # one stream; two key ranges
                proof_id = await new_proof(sessions)
                with pytest.raises(ValueError, match="no user id"):
                    await build_tree_in_postgres(sessions, proof_id=proof_id, token_address=token, hash_workers=workers)
                assert await tree_rows(sessions, proof_id) == (0, 0)
        finally:
            async with sessions() as s, s.begin():
                await s.execute(text("DELETE FROM ledger_accounts WHERE user_id IS NULL AND code = 'user_istsi'"))
                await s.execute(text(f"ALTER TABLE ledger_accounts ADD CONSTRAINT {USER_CHECK} "
                                     "CHECK (code <> 'user_istsi' OR user_id IS NOT NULL)"))

    run(tree_db_url, body)


@pytest.mark.parametrize("where", ["fetch", "write"])
def test_a_cancel_mid_command_fails_cleanly(tree_db_url, monkeypatch, where):
    """Cancel while the main task waits on a fetch (ahead[k]) or in drain() while the writer's COPY runs."""
    from db.queries import reserves
    monkeypatch.setattr(liability_tree, "BATCH_ROWS", GROUP_LEAVES)
    if where == "fetch":
        orig = reserves._ranged_rows_sql
        monkeypatch.setattr(reserves, "_ranged_rows_sql", lambda **kw: (
            f"SELECT q.* FROM ({orig(**kw)}) q CROSS JOIN (SELECT pg_sleep(1.5)) s"))
    else:
        real_copy = proofs.copy_leaf_groups
        calls = []

        async def slow_copy(writer, **kw):
            calls.append(1)
            if len(calls) == 3:
                await writer.execute(text("SELECT pg_sleep(1.5)"))
            return await real_copy(writer, **kw)
        monkeypatch.setattr(proofs, "copy_leaf_groups", slow_copy)
    balances = [random.Random(1).randrange(10**8) for _ in range(3 * GROUP_LEAVES + 3)]
    errors = []

    async def body(sessions):
        token, ids, proof_id, build = await start_two_range_build(sessions, balances, errors)
        await asyncio.sleep(0.5)
        build.cancel()
        t0 = time.monotonic()
        outcome = (await asyncio.gather(build, return_exceptions=True))[0]
        took = time.monotonic() - t0
        await asyncio.sleep(0.2)
        left = _others()
        assert took < (1.0 if where == "fetch" else 3.0), took  # a sorting range's query is cancelled, not awaited
        assert isinstance(outcome, asyncio.CancelledError), repr(outcome)
        assert not left
        assert _checked_out(sessions) == 0
        assert await tree_rows(sessions, proof_id) == (0, 0)

    run(tree_db_url, body)
    gc.collect()
    assert not errors


def test_answers_to_cancelled_requests_do_not_kill_the_hash_workers_reader(tree_db_url, monkeypatch):
    """After a failure, _Pipeline.close() cancels answers the hash worker will still answer."""
    real_read = tree_hasher.TreeHasher._read_answers
    outcomes = []

    async def recording_read(self):
        try:
            await real_read(self)
            outcomes.append("returned")
        except BaseException as exc:
            outcomes.append(repr(exc))
            raise
    monkeypatch.setattr(tree_hasher.TreeHasher, "_read_answers", recording_read)

    async def failing_copy(writer, **kw):
        await asyncio.sleep(0)  # the workers answer the batches in flight meanwhile... or not yet
        raise ConnectionResetError("writer died")
    monkeypatch.setattr(proofs, "copy_leaf_groups", failing_copy)

    async def body(sessions):
        token, _ = await seed(sessions, [5] * (8 * 64 * GROUP_LEAVES), random.Random(9))
        proof_id = await new_proof(sessions)
        with pytest.raises(ConnectionResetError):
            await build_tree_in_postgres(sessions, proof_id=proof_id, token_address=token, hash_workers=2)
        assert all(o == "returned" for o in outcomes), outcomes

    run(tree_db_url, body)


def test_a_cancel_while_waiting_for_room_leaves_no_task(tree_db_url, monkeypatch):
    """The workers are slow (their answers are not in yet), the semaphore is full: Temporal cancels."""
    monkeypatch.setattr(liability_tree, "BATCH_ROWS", GROUP_LEAVES)

    async def slow_submit(self, user_ids, balances):
        return asyncio.get_running_loop().create_future()  # answered "later"
    monkeypatch.setattr(tree_hasher.TreeHasher, "submit", slow_submit)

    async def body(sessions):
        token, _ = await seed(sessions, [5] * (20 * GROUP_LEAVES), random.Random(10))
        proof_id = await new_proof(sessions)
        build = asyncio.ensure_future(build_tree_in_postgres(sessions, proof_id=proof_id, token_address=token, hash_workers=2))
        await asyncio.sleep(1.0)
        build.cancel()
        outcome = (await asyncio.gather(build, return_exceptions=True))[0]
        await asyncio.sleep(0.1)
        left = _others()
        assert isinstance(outcome, asyncio.CancelledError)
        assert not left, left

    run(tree_db_url, body)


@pytest.mark.parametrize("failing", [False, True])
def test_a_postgres_error_in_one_range_fails_cleanly(tree_db_url, monkeypatch, failing):
    """The last range's query fails (no upper bound) or the first's (``has_hi``)."""
    import psycopg

    from db.queries import reserves
    monkeypatch.setattr(liability_tree, "BATCH_ROWS", GROUP_LEAVES)
    orig = reserves._ranged_rows_sql
    def broken(_orig=orig, **kw):
        sql = _orig(**kw)
        return sql.replace("AS bigint)", "AS bigint) / 0", 1) if kw["has_hi"] == failing else sql

    monkeypatch.setattr(reserves, "_ranged_rows_sql", broken)

    async def body(sessions):
        token, _ = await seed(sessions, [5] * (30 * GROUP_LEAVES), random.Random(11))
        await analyze(sessions)
        proof_id = await new_proof(sessions)
        with pytest.raises(psycopg.errors.DivisionByZero):
            await build_tree_in_postgres(sessions, proof_id=proof_id, token_address=token, hash_workers=2)
        await asyncio.sleep(0.1)
        assert not _others()
        assert _checked_out(sessions) == 0
        assert await tree_rows(sessions, proof_id) == (0, 0)

    run(tree_db_url, body)


def test_cuts_on_awkward_ids_keep_every_liability_once(tree_db_url, monkeypatch):
    """Cuts at the zero id (an empty first range), at an unpaid-only user, at the outside holders'
    constant leaf and at a user with both a balance and an unpaid withdrawal."""
    from db.queries.reserves import EXTERNAL_HOLDERS_LEAF
    monkeypatch.setattr(liability_tree, "BATCH_ROWS", GROUP_LEAVES)

    async def body(sessions):
        rng = random.Random(12)
        balances = [rng.randrange(10**6) for _ in range(3 * GROUP_LEAVES + 7)]
        token, ids = await seed(sessions, balances, rng)
        only_unpaid = await seed_unpaid_and_outside_holders(sessions, token, [(ids[5], 70)])
        cuts = sorted({uuid.UUID(int=0), only_unpaid, EXTERNAL_HOLDERS_LEAF, ids[5]})

        async def fixed_cuts(session, parts):
            return cuts
        monkeypatch.setattr(liability_tree, "user_id_quantiles", fixed_cuts)
        try:
            proof_id = await new_proof(sessions)
            result = await build_tree_in_postgres(sessions, proof_id=proof_id, token_address=token, hash_workers=2)
            all_ids = [*ids, only_unpaid, EXTERNAL_HOLDERS_LEAF]
            all_bal = [*balances, 9_000, 4242]
            all_bal[5] += 70
            await check_against_reference(sessions, proof_id, result, all_ids, all_bal, samples=10)
        finally:
            await remove_unpaid_and_outside_holders(sessions)

    run(tree_db_url, body)
