"""Review of the books (issue 13): attacks on the ledger rules, the token-move booking and the
solvency guard against a scratch database (``tests/books/conftest.py``)."""

from __future__ import annotations

import uuid

import pytest

from activities.token_moves import ProjectionBehind
from db import ledger
from domain import entries as e
from domain.chain_events import TokensBurned, TokensMinted, TokensMoved
from tests.books.conftest import make_user
from tests.books.test_token_moves import TOKEN, available, book, credited


async def test_an_outside_mint_burned_back_by_its_holder_leaves_the_books_unchanged(books) -> None:
    """iSTSi minted outside the engine is (rightly) not booked, but the holder's burn of exactly
    those tokens is: the books take it out of the holder's *backed* balance and move its BTC
    backing to suspense. On Stellar the chain is back where it was (the acceptance test's own
    remedy for an outside mint); in the books Alice lost 500 redeemable units and
    ``istsi_backing`` 500 sats, so reconciliation reports supply and Alice's balance short
    (emergency, pause) from then on, and Alice cannot withdraw what she deposited."""
    alice, _ = await credited(books, 1_000)
    users = {"GALICE": alice}
    assert not await book(books, TokensMinted("GALICE", 500), users)
    await book(books, TokensBurned("GALICE", 500), users)
    assert await available(books, alice) == 1_000, "the holder's burn of unbooked tokens took her backed ones"


async def test_tokens_an_outsider_received_before_registering_can_be_booked_once_he_is_a_user(books) -> None:
    """Alice sends 300 units on Stellar to an account that is not an engine user (booked to
    ``istsi_external``); its owner then registers with that Stellar address and sends them back.
    The booking looks only at the (empty) user account, raises ``ProjectionBehind`` and the
    event monitor retries that page forever: no later token move, burn or router pause event is
    booked or mirrored again."""
    alice, _ = await credited(books, 1_000)
    assert await book(books, TokensMoved("GALICE", "GBOB", 300), {"GALICE": alice})  # Bob is not a user yet
    bob = await make_user(books)  # Bob registers with the Stellar address GBOB
    try:
        await book(books, TokensMoved("GBOB", "GALICE", 300), {"GALICE": alice, "GBOB": bob})
    except ProjectionBehind as stuck:
        pytest.fail(f"booking can never succeed, the event monitor stalls on it: {stuck}")
    assert await available(books, alice) == 1_000


async def test_tokens_of_a_written_off_reorged_deposit_moved_on_stellar_are_booked(books) -> None:
    """After a write-off the books hold nothing for Alice, but Stellar still shows her tokens;
    when she moves them the booking raises ``ProjectionBehind`` forever (event monitor stalled)."""
    alice, op = await credited(books, 1_000)
    bob = await make_user(books)
    outpoint = f"{op}:0"
    async with books() as session, session.begin():
        await ledger.post(session, e.reorg_hold(op, alice, outpoint, held_units=1_000, amount_sats=1_000, epoch=1),
                          token_address=TOKEN)
        holds = await ledger.open_pending(session, operation_id=uuid.UUID(op), code="reorg_hold")
        await ledger.post(session, e.reorg_write_off(op, outpoint, holds, amount_sats=1_000, epoch=1), token_address=TOKEN)
    try:
        await book(books, TokensMoved("GALICE", "GBOB", 1_000), {"GALICE": alice, "GBOB": bob})
    except ProjectionBehind as stuck:
        pytest.fail(f"booking can never succeed, the event monitor stalls on it: {stuck}")
    assert await available(books, bob) == 0  # the written-off tokens stay unredeemable wherever they go


# ---- the solvency guard ------------------------------------------------------------------------

from sqlalchemy import text  # noqa: E402

from activities.custody_books import CustodyBooks  # noqa: E402
from config.settings import load_settings  # noqa: E402
from db.queries import custody  # noqa: E402
from domain.utxo_set import ChainView  # noqa: E402
from tests.books.test_solvency_guard import _credited, _deposit, _run_guards, fresh  # noqa: E402,F401


async def test_after_a_reorg_write_off_a_fully_backed_deposit_still_passes_the_guard(fresh) -> None:  # noqa: F811
    """A credited deposit is reorged away for good: the scanner holds its credit, then writes it
    off into suspense (``reorg_write_off``). Custody still holds every satoshi the books owe
    anyone who can redeem (reconciliation reports ``none``: suspense explains the rest), but the
    write-off never takes the tokens out of ``istsi_supply``, so the guard counts them and stops
    every later deposit, each one backed by its own output, at ``solvency_guard``."""
    await _credited(fresh, 500_000)  # honest users' iSTSi, backed
    op, user = await _deposit(fresh, 200_000)  # Alice's deposit …
    async with fresh() as session, session.begin():
        await ledger.post(session, [*e.deposit_credit_pending(op, user, 200_000),
                                    *e.deposit_credit_posted(op, user, 200_000)], token_address=TOKEN)
        await session.execute(text("UPDATE custody_utxos SET held_in = 'istsi_backing' WHERE operation_id = :op"),
                              {"op": op})
    settings = load_settings()
    books = CustodyBooks(settings)
    window = settings.deposits.reorg_window_blocks
    for view, tip in ((ChainView.MEMPOOL, 1_000), (ChainView.MISSING, 1_000 + window)):  # … reorged, never back
        async with fresh() as session, session.begin():
            (row,) = await custody.of_operation(session, uuid.UUID(op), for_update=True)
            await books.follow(session, row, view, tip_height=tip)
    async with fresh() as session:
        (row,) = await custody.of_operation(session, uuid.UUID(op))
        assert (row.state, row.held_in) == ("vanished", e.SUSPENSE_BTC)
    newcomer = await _deposit(fresh, 40_000)
    assert await _run_guards(fresh, [newcomer], 40_000) == [True], "a self-backed deposit was stopped"


async def test_a_reorged_deposit_whose_credit_is_all_held_already_leaves_custody_once(fresh) -> None:  # noqa: F811
    """Alice's whole credit is on hold for a withdrawal when her deposit is reorged away, so the
    reorg hold holds 0 units and ``domain.entries.reorg_hold`` posts only its BTC side. With no
    open ``reorg_hold`` transfer, ``decide`` sees the row as "credited, not held" again on the
    next look and HOLDs once more: each scan moves the deposit's value out of ``custody_btc``
    into ``reorged_deposits`` again (here: three looks, three times), until ``custody_btc``'s
    balance flag refuses the honest users' payouts (``exceeds_debits``)."""
    await _credited(fresh, 500_000)
    op, user = await _deposit(fresh, 200_000)
    async with fresh() as session, session.begin():
        await ledger.post(session, [*e.deposit_credit_pending(op, user, 200_000),
                                    *e.deposit_credit_posted(op, user, 200_000)], token_address=TOKEN)
        await session.execute(text("UPDATE custody_utxos SET held_in = 'istsi_backing' WHERE operation_id = :op"),
                              {"op": op})
        await ledger.post(session, e.withdrawal_hold(uuid.uuid4(), user, 200_000), token_address=TOKEN)
    books = CustodyBooks(load_settings())
    for view in (ChainView.MEMPOOL, ChainView.MISSING, ChainView.MISSING):  # the scanner's disconnect, then checks
        async with fresh() as session, session.begin():
            (row,) = await custody.of_operation(session, uuid.UUID(op), for_update=True)
            await books.follow(session, row, view, tip_height=1_000)
    async with fresh() as session:
        reorged = await ledger.account(session, e.REORGED)
        moved = [t.transfer.id for t in await ledger.transfers_of_account(session, e.REORGED)]
    assert reorged.debits_posted - reorged.credits_posted == 200_000, f"{reorged.debits_posted} sats moved: {moved}"


async def test_a_deposit_that_leaves_its_block_during_the_mint_is_credited_on_hold(fresh) -> None:  # noqa: F811
    """The guard passed (credit pending), the mint is on its way; the scanner sees the deposit's
    block orphaned and moves the (not yet credited) row back to ``seen``. ``credit_deposit`` then
    posts the credit and marks the row as backing, but places no reorg hold: the user can redeem
    the credit at once, and the set (``seen:held`` excluded) no longer equals ``custody_btc``
    until some later scan or observation happens to HOLD it."""
    from db.books_check import check_books
    from db.queries import operations

    await _credited(fresh, 500_000)
    op, user = await _deposit(fresh, 200_000)
    assert await _run_guards(fresh, [(op, user)], 200_000) == [True]
    books = CustodyBooks(load_settings())
    async with fresh() as session, session.begin():  # the scanner's disconnect of the deposit's block
        (row,) = await custody.of_operation(session, uuid.UUID(op), for_update=True)
        await books.follow(session, row, ChainView.MEMPOOL, tip_height=1_000)
    async with fresh() as session, session.begin():  # credit_deposit after the mint
        locked = await operations.get_by_id(session, operation_id=uuid.UUID(op), for_update=True)
        await books.credit(session, locked)
    async with fresh() as session:
        report = await check_books(session)
    problems = [p for p in report.problems if p.startswith("the UTXO set equals custody_btc")]
    assert await available(fresh, user) == 0 and not problems, (
        f"the credit of a deposit off its block is available: {await available(fresh, user)}; {problems}")
