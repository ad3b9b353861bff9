"""The solvency guard against real Postgres (a scratch database): bounded SQL reads of the books,
serialised under an advisory lock, placing each credit as a pending transfer. Concurrent mints
at the solvency edge never overshoot; one user's uncredited BTC never backs another's mint."""

from __future__ import annotations

import asyncio
import os
import uuid

import pytest
from sqlalchemy import text
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.deposit_guards import DepositGuards, solvency_view
from config.settings import load_settings
from contracts.deposits import SolvencyInput
from db import ledger
from domain import entries as e
from tests.books.conftest import make_user

TOKEN = "CTOKEN"


async def _output(books, *, user: str, sats: int, held_in: str, operation_id: str | None, state: str = "confirmed") -> str:
    """A custody output (and its receipt in the books)."""
    outpoint = f"{os.urandom(32).hex()}:0"
    address = f"bcrt1q{uuid.uuid4().hex}"
    async with books() as session, session.begin():
        await session.execute(text(
            "INSERT INTO custody_addresses (address, branch, derivation_index, user_id) VALUES (:a, 0, :i, :u)"),
            {"a": address, "i": int.from_bytes(os.urandom(3), "big"), "u": user})
        await session.execute(text(
            "INSERT INTO custody_utxos (outpoint, txid, vout, value_sats, address, state, block_height, held_in, "
            "operation_id) VALUES (:o, :t, 0, :v, :a, :s, :h, :held, :op)"),
            {"o": outpoint, "t": outpoint[:64], "v": sats, "a": address, "s": state,
             "h": 100 if state == "confirmed" else None, "held": held_in, "op": operation_id})
        await ledger.post(session, e.receipt(outpoint, sats, held_in if held_in != e.BACKING else e.IN_FLIGHT,
                                             operation_id=operation_id), token_address=TOKEN)
    return outpoint


async def _deposit(books, sats: int) -> tuple[str, str]:
    """A deposit operation whose output is confirmed in custody and booked in flight."""
    user = await make_user(books)
    op = str(uuid.uuid4())
    async with books() as session, session.begin():
        await session.execute(text(
            "INSERT INTO operations (id, user_id, operation_type, status, amount, outpoint) "
            "VALUES (:id, :u, 'deposit', 'processing', :a, :o)"), {"id": op, "u": user, "a": sats, "o": op})
    await _output(books, user=user, sats=sats, held_in=e.IN_FLIGHT, operation_id=op)
    return op, user


async def _credited(books, sats: int) -> None:
    """A credited deposit: iSTSi in issue backed by its own output."""
    op, user = await _deposit(books, sats)
    async with books() as session, session.begin():
        await ledger.post(session, [*e.deposit_credit_pending(op, user, sats), *e.deposit_credit_posted(op, user, sats)],
                          token_address=TOKEN)
        await session.execute(text("UPDATE custody_utxos SET held_in = 'istsi_backing' WHERE operation_id = :op"), {"op": op})


async def _margin(books) -> int:
    async with books() as session:
        view = await solvency_view(session, amount_sats=0)
    return view.custody_sats + view.reorged_sats - view.supply_units - view.pending_withdrawals_sats


def _guards(books) -> DepositGuards:
    return DepositGuards(sessions=books, esplora=None, settings=load_settings())


async def _run_guards(books, deposits: list[tuple[str, str]], sats: int) -> list[bool]:
    guards = _guards(books)

    async def one(op: str) -> bool:
        try:
            await ActivityEnvironment().run(guards.check_solvency, SolvencyInput(op, "00" * 32, 0, sats))
            return True
        except ApplicationError as refused:
            assert refused.type == "solvency_guard", refused
            return False

    return list(await asyncio.gather(*(one(op) for op, _ in deposits)))


@pytest.fixture
async def fresh(books):
    """Start each test from empty books (the scratch database is the module's)."""
    async with books() as session, session.begin():
        await session.execute(text("ALTER TABLE ledger_transfers DISABLE TRIGGER ledger_transfers_immutable"))
        await session.execute(text("TRUNCATE custody_utxos, custody_addresses, ledger_transfers, ledger_accounts, "
                                   "token_balances, operations, custody_utxo_totals, ledger_code_totals CASCADE"))
        await session.execute(text("ALTER TABLE ledger_transfers ENABLE TRIGGER ledger_transfers_immutable"))
    return books


async def test_concurrent_mints_exactly_at_the_edge_all_pass_and_break_nothing(fresh) -> None:
    await _credited(fresh, 500_000)
    assert await _margin(fresh) == 0  # fully backed, no buffer
    deposits = [await _deposit(fresh, 40_000) for _ in range(8)]
    assert await _run_guards(fresh, deposits, 40_000) == [True] * 8
    assert await _margin(fresh) == 0
    async with fresh() as session:
        pending = await ledger.open_pending(session, code="deposit_credit")
    assert len(pending) == 16  # one pending credit per deposit on each ledger, none twice


async def test_one_satoshi_short_no_concurrent_mint_passes(fresh) -> None:
    await _credited(fresh, 500_000)
    async with fresh() as session, session.begin():  # a custody output lost one satoshi to nobody
        await session.execute(text("UPDATE custody_utxos SET value_sats = value_sats - 1 WHERE held_in = 'istsi_backing'"))
    assert await _margin(fresh) == -1
    deposits = [await _deposit(fresh, 40_000) for _ in range(8)]
    assert await _run_guards(fresh, deposits, 40_000) == [False] * 8


async def test_another_users_uncredited_btc_never_backs_a_mint(fresh) -> None:
    await _credited(fresh, 500_000)
    async with fresh() as session, session.begin():  # custody is short by 30,000 …
        await session.execute(text("UPDATE custody_utxos SET value_sats = value_sats - 30000 WHERE held_in = 'istsi_backing'"))
    waiting = await _deposit(fresh, 100_000)  # … while 100,000 of someone's BTC waits for its mint (e.g. KYC)
    small = await _deposit(fresh, 20_000)
    assert await _run_guards(fresh, [small], 20_000) == [False]
    assert await _run_guards(fresh, [waiting], 100_000) == [False]
    assert waiting


async def test_more_concurrent_guards_than_pooled_connections_all_pass(books_db_url, fresh) -> None:
    """Guards hold a connection while they wait for the books' lock, and the holder needs a second
    one for its snapshot: with more guards than connections, no guard may starve the holder (the
    deposit benchmark parked deposits at 64 concurrent mints on a pool of 10 + 10)."""
    from sqlalchemy.ext.asyncio import create_async_engine

    from db.session import make_sessionmaker

    await _credited(fresh, 500_000)
    deposits = [await _deposit(fresh, 10_000) for _ in range(8)]
    url = load_settings(database={"url": books_db_url}).database.url
    engine = create_async_engine(url, pool_size=2, max_overflow=0, pool_timeout=5)
    try:
        small_pool = make_sessionmaker(engine)
        assert await asyncio.wait_for(_run_guards(small_pool, deposits, 10_000), timeout=60) == [True] * 8
    finally:
        await engine.dispose()
