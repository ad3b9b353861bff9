"""The books in Postgres (``db/ledger.py`` + the ``0010_books`` trigger) behave exactly like the pure
ledger (``domain.ledger.Book``): same results, same balances, for the same random chains of
transfers; transfers are immutable; the flags hold under concurrency; ``token_balances`` follows."""

from __future__ import annotations

import asyncio
import uuid

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, text

from db import ledger
from db.models import TokenBalance
from domain import entries as e
from domain.ledger import Book, LedgerError, Result, Transfer
from tests.books.conftest import make_user

TOKEN = "CTOKEN"


async def post(sessions, transfers: list[Transfer]) -> list[Result]:
    async with sessions() as session, session.begin():
        return await ledger.post(session, transfers, token_address=TOKEN)


async def test_a_retried_step_posts_nothing_twice(books) -> None:
    user = await make_user(books)
    op = str(uuid.uuid4())
    steps = [e.receipt(f"{op}:0", 5000, e.IN_FLIGHT, operation_id=None), e.deposit_credit_pending(op, user, 5000),
             e.deposit_credit_posted(op, user, 5000)]
    for step in steps:
        assert await post(books, step) == [Result.OK] * len(step)
        assert await post(books, step) == [Result.EXISTS] * len(step)
    async with books() as session:
        account = await ledger.account(session, e.user_istsi(user))
        row = (await session.execute(select(TokenBalance).where(TokenBalance.user_id == uuid.UUID(user)))).scalar_one()
    assert account.credits_posted == 5000
    assert (row.balance, row.reserved_balance, row.token_address) == (5000, 0, TOKEN)


async def test_same_id_with_other_fields_is_refused(books) -> None:
    outpoint = f"{uuid.uuid4().hex}:0"
    await post(books, e.receipt(outpoint, 700, e.UNATTRIBUTED))
    with pytest.raises(LedgerError) as refused:
        await post(books, e.receipt(outpoint, 701, e.UNATTRIBUTED))
    assert refused.value.code == "exists_with_different_fields"


async def test_a_refused_chain_leaves_no_trace_and_the_transaction_goes_on(books) -> None:
    user = await make_user(books)
    op = str(uuid.uuid4())
    async with books() as session, session.begin():
        await ledger.post(session, e.receipt(f"{op}:0", 900, e.IN_FLIGHT), token_address=TOKEN)
        with pytest.raises(LedgerError) as refused:
            await ledger.post(session, [*e.withdrawal_hold(op, user, 1)], token_address=TOKEN)
        assert refused.value.code == "exceeds_credits"
        # the outer transaction is still usable: the savepoint took the refusal
        await ledger.post(session, e.deposit_credit_pending(op, user, 900), token_address=TOKEN)
    async with books() as session:
        assert (await ledger.account(session, e.user_istsi(user))).credits_pending == 900
        assert await ledger.get_transfer(session, f"withdrawal-hold:{op}") is None


async def test_transfers_are_immutable(books) -> None:
    outpoint = f"{uuid.uuid4().hex}:3"
    await post(books, e.receipt(outpoint, 42, e.UNATTRIBUTED))
    for statement in ("UPDATE ledger_transfers SET amount = 1 WHERE id = :id", "DELETE FROM ledger_transfers WHERE id = :id"):
        with pytest.raises(Exception, match="ledger_transfers_are_immutable"):
            async with books() as session, session.begin():
                await session.execute(text(statement), {"id": f"receipt:{outpoint}"})


async def test_balance_flags_are_enforced_by_the_database_itself(books_db_url: str, books) -> None:
    """Even a hand-written UPDATE cannot take a user's liability below zero."""
    user = await make_user(books)
    async with books() as session, session.begin():
        await ledger.open_accounts(session, [e.user_istsi(user)], token_address=TOKEN)
    with psycopg.connect(books_db_url) as conn, pytest.raises(psycopg.errors.CheckViolation):
        conn.execute("UPDATE ledger_accounts SET debits_posted = credits_posted + 1 WHERE key = %s", (e.user_istsi(user),))


async def test_twenty_concurrent_holds_of_the_whole_balance_exactly_one_passes(books) -> None:
    user, op = await make_user(books), str(uuid.uuid4())
    await post(books, e.receipt(f"{op}:0", 10_000, e.IN_FLIGHT))
    await post(books, [*e.deposit_credit_pending(op, user, 10_000), *e.deposit_credit_posted(op, user, 10_000)])

    async def hold(n: int) -> bool:
        try:
            await post(books, e.withdrawal_hold(uuid.uuid4(), user, 10_000))
            return True
        except LedgerError as refused:
            assert refused.code == "exceeds_credits"
            return False

    assert sum(await asyncio.gather(*(hold(n) for n in range(20)))) == 1
    async with books() as session:
        row = (await session.execute(select(TokenBalance).where(TokenBalance.user_id == uuid.UUID(user)))).scalar_one()
    assert (row.balance, row.reserved_balance) == (10_000, 10_000)


async def test_concurrent_post_and_void_of_one_pending_resolve_it_once(books) -> None:
    user, op = await make_user(books), str(uuid.uuid4())
    await post(books, e.receipt(f"{op}:0", 3_000, e.IN_FLIGHT))
    await post(books, [*e.deposit_credit_pending(op, user, 3_000), *e.deposit_credit_posted(op, user, 3_000)])
    await post(books, e.withdrawal_hold(op, user, 3_000))
    outcomes = await asyncio.gather(
        post(books, e.withdrawal_burn(op, user, 3_000)), post(books, e.withdrawal_release(op, user, 3_000)),
        return_exceptions=True,
    )
    assert sorted(type(o).__name__ for o in outcomes) == ["LedgerError", "list"]
    refused = next(o for o in outcomes if isinstance(o, LedgerError))
    assert refused.code in ("pending_transfer_already_posted", "pending_transfer_already_voided")


# ---- the database agrees with the pure ledger on random chains --------------------------------

KEYS = [e.CUSTODY, e.IN_FLIGHT, e.UNATTRIBUTED, e.BACKING, e.UNPAID, e.FEES, e.SUPPLY, e.EXTERNAL, e.SUSPENSE_BTC]
step = st.tuples(st.sampled_from(["receipt", "credit", "post", "void", "hold", "burn", "release", "move"]),
                 st.integers(min_value=0, max_value=3), st.integers(min_value=1, max_value=3000))


# The steps that move one operation's money for one user: (operation id, user, amount) -> transfers.
OPERATION_STEPS = {
    "credit": e.deposit_credit_pending,
    "post": e.deposit_credit_posted,
    "void": e.deposit_credit_voided,
    "hold": e.withdrawal_hold,
    "burn": e.withdrawal_burn,
    "release": e.withdrawal_release,
}


def transfers_for(kind: str, n: int, amount: int, users: list[str], tag: str) -> list[Transfer]:
    user, op = users[n % len(users)], str(uuid.uuid5(uuid.NAMESPACE_OID, f"{tag}-{n}"))
    if kind == "receipt":
        return e.receipt(f"{tag}:{n}:{amount}", amount, e.IN_FLIGHT)
    if kind in OPERATION_STEPS:
        return OPERATION_STEPS[kind](op, user, amount)
    return e.chain_transfer(f"{tag}-{n}-{amount}", e.user_istsi(user), e.EXTERNAL, amount)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(step, min_size=1, max_size=25))
async def test_postgres_and_the_pure_book_agree(books, steps) -> None:
    users = [await make_user(books) for _ in range(2)]
    tag = uuid.uuid4().hex[:8]
    book = Book()
    async with books() as session, session.begin():
        keys = [*KEYS, *[e.user_istsi(u) for u in users]]
        await ledger.open_accounts(session, keys, token_address=TOKEN)
        before = await ledger.lookup_accounts(session, keys)
    book.open(before[k] for k in keys)
    for kind, n, amount in steps:
        chain = transfers_for(kind, n, amount, users, tag)
        try:
            book.post(chain)
            expected = None
        except LedgerError as refused:
            expected = refused.code
        try:
            await post(books, chain)
            got = None
        except LedgerError as refused:
            got = refused.code
        assert got == expected, (kind, n, amount)
    async with books() as session:
        stored = await ledger.lookup_accounts(session, keys)
    assert stored == {k: book.accounts[k] for k in keys}


async def test_the_books_check_passes_and_finds_a_hand_edit(books, books_db_url: str) -> None:
    from db.books_check import check_books

    user = await make_user(books)
    op = str(uuid.uuid4())
    await post(books, [*e.receipt(f"{op}:0", 800, e.IN_FLIGHT, operation_id=op),
                       *e.deposit_credit_pending(op, user, 800), *e.deposit_credit_posted(op, user, 800)])
    async with books() as session:
        report = await check_books(session)
    assert "each account equals the sum of its transfers" in report.checked
    assert "token_balances equals the books" in report.checked
    with psycopg.connect(books_db_url) as conn:  # a write around the trigger
        conn.execute("UPDATE token_balances SET balance = balance + 1 WHERE user_id = %s", (user,))
        conn.execute("UPDATE ledger_accounts SET credits_posted = credits_posted + 5 WHERE key = %s", (e.user_istsi(user),))
    async with books() as session:
        report = await check_books(session)
    failed = {p.split(":")[0] for p in report.problems}
    assert {"each account equals the sum of its transfers", "token_balances equals the books"} <= failed
