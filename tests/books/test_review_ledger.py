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
    """iSTSi minted outside the engine is booked to its holder unbacked and held (so her balance
    matches Stellar yet cannot be redeemed); her burn of exactly those tokens takes the unbacked
    ones first, so the books end where they began (it used to take her *backed* balance and move
    its BTC backing to suspense, and Alice could no longer withdraw what she deposited)."""
    alice, _ = await credited(books, 1_000)
    users = {"GALICE": alice}
    assert await book(books, TokensMinted("GALICE", 500), users)
    assert await available(books, alice) == 1_000
    async with books() as session:
        assert (await ledger.account(session, e.user_istsi(alice))).credit_balance == 1_500
    await book(books, TokensBurned("GALICE", 500), users)
    assert await available(books, alice) == 1_000, "the holder's burn of unbacked tokens took her backed ones"
    async with books() as session:
        account = await ledger.account(session, e.user_istsi(alice))
        unbacked = await ledger.account(session, e.UNBACKED)
        suspense = await ledger.account(session, e.SUSPENSE_BTC)
    assert (account.credit_balance, account.debits_pending) == (1_000, 0)
    assert unbacked.debits_posted == unbacked.credits_posted == 500
    assert suspense.credits_posted == suspense.debits_posted


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
        await ledger.post(session, e.reorg_hold(op, alice, outpoint, held_units=1_000, epoch=1),
                          token_address=TOKEN)
        await ledger.post(session, e.reorg_write_off(op, outpoint, amount_sats=1_000, epoch=1), token_address=TOKEN)
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


async def test_after_a_reorg_write_off_the_guard_stops_until_an_operator_covers_it(fresh) -> None:  # noqa: F811
    """A credited deposit is reorged away for good: the scanner holds its credit, then writes it
    off into suspense (``reorg_write_off``). Its tokens are still on Stellar and now unbacked, so
    the guard (like reconciliation) refuses further mints rather than pretend custody is whole.
    An operator covers the loss with BTC back in custody (``cover_write_off``, here a top-up to a
    spare custody address): the written-off credit is restored, the books pass their checks,
    and a self-backed deposit passes the guard again."""
    from activities.custody_books import WriteOffNotCoverable
    from db.books_check import check_books
    from tests.books.test_solvency_guard import _output

    await _credited(fresh, 500_000)  # honest users' iSTSi, backed
    op, user = await _deposit(fresh, 200_000)  # Alice's deposit …
    async with fresh() as session, session.begin():
        await ledger.post(session, [*e.deposit_credit_pending(op, user, 200_000),
                                    *e.deposit_credit_posted(op, user, 200_000)], token_address=TOKEN)
        await session.execute(text("UPDATE custody_utxos SET held_in = 'istsi_backing' WHERE operation_id = :op"),
                              {"op": op})
    settings = load_settings()
    books = CustodyBooks(settings)
    books.token = TOKEN
    window = settings.deposits.reorg_window_blocks
    for view, tip in ((ChainView.MEMPOOL, 1_000), (ChainView.MISSING, 1_000 + window)):  # … reorged, never back
        async with fresh() as session, session.begin():
            (row,) = await custody.of_operation(session, uuid.UUID(op), for_update=True)
            await books.follow(session, row, view, tip_height=tip)
    async with fresh() as session:
        (row,) = await custody.of_operation(session, uuid.UUID(op))
        assert (row.state, row.held_in) == ("vanished", e.SUSPENSE_BTC)
    assert await available(fresh, user) == 0
    first = await _deposit(fresh, 40_000)
    assert await _run_guards(fresh, [first], 40_000) == [False], "a mint passed while 200,000 iSTSi are unbacked"

    small = await _output(fresh, user=None, sats=150_000, held_in=e.UNATTRIBUTED, operation_id=None)
    topup = await _output(fresh, user=None, sats=210_000, held_in=e.UNATTRIBUTED, operation_id=None)
    with pytest.raises(WriteOffNotCoverable) as refused:
        async with fresh() as session, session.begin():
            await books.cover_write_off(session, operation_id=uuid.UUID(op), covering_outpoint=small,
                                        actor="ops", reason="top-up")
    assert refused.value.code == "too_small"
    for _ in range(2):  # the same cover twice books once
        async with fresh() as session, session.begin():
            await books.cover_write_off(session, operation_id=uuid.UUID(op), covering_outpoint=topup,
                                        actor="ops", reason="top-up")
    assert await available(fresh, user) == 200_000
    async with fresh() as session:
        suspense = await ledger.account(session, e.SUSPENSE_BTC)
        report = await check_books(session)
    assert suspense.credits_posted - suspense.debits_posted == 10_000  # the top-up's excess
    assert report.ok, report.problems
    second = await _deposit(fresh, 40_000)
    assert await _run_guards(fresh, [first, second], 40_000) == [True, True]


@pytest.mark.parametrize(("stage", "held"), [("awaiting_approval", 200_000), ("burning", 0)])
async def test_a_reorged_deposit_whose_credit_is_all_held_already_leaves_custody_once(fresh, stage, held) -> None:  # noqa: F811
    """Alice's whole credit is on hold for a withdrawal when her deposit is reorged away. A
    withdrawal that has not started burning gives its hold up and the whole credit is held; one
    already burning keeps it and nothing can be held (the loss is reconciliation's to report).
    Either way the BTC side leaves ``custody_btc`` once, however often the scanner looks (it
    used to move the deposit's value again on every look, until ``custody_btc``'s balance flag
    refused the honest users' payouts)."""
    await _credited(fresh, 500_000)
    op, user = await _deposit(fresh, 200_000)
    withdrawal = uuid.uuid4()
    async with fresh() as session, session.begin():
        await ledger.post(session, [*e.deposit_credit_pending(op, user, 200_000),
                                    *e.deposit_credit_posted(op, user, 200_000)], token_address=TOKEN)
        await session.execute(text("UPDATE custody_utxos SET held_in = 'istsi_backing' WHERE operation_id = :op"),
                              {"op": op})
        await session.execute(text(
            "INSERT INTO operations (id, user_id, operation_type, status, stage, amount) "
            "VALUES (:id, :u, 'withdrawal', 'processing', :stage, 200000)"), {"id": withdrawal, "u": user, "stage": stage})
        await ledger.post(session, e.withdrawal_hold(withdrawal, user, 200_000), token_address=TOKEN)
    books = CustodyBooks(load_settings())
    books.token = TOKEN
    for view in (ChainView.MEMPOOL, ChainView.MISSING, ChainView.MISSING):  # the scanner's disconnect, then checks
        async with fresh() as session, session.begin():
            (row,) = await custody.of_operation(session, uuid.UUID(op), for_update=True)
            await books.follow(session, row, view, tip_height=1_000)
    async with fresh() as session:
        reorged = await ledger.account(session, e.REORGED)
        moved = [t.transfer.id for t in await ledger.transfers_of_account(session, e.REORGED)]
    assert reorged.debits_posted - reorged.credits_posted == held, f"{reorged.debits_posted} sats moved: {moved}"
    assert await available(fresh, user) == 0


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
