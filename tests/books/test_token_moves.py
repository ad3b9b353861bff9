"""iSTSi that holders moved on Stellar themselves, booked by the event monitor's rules
(``activities/token_moves.py``) against real Postgres: transfers move liabilities, a reorg hold
travels with the tokens, a withdrawal hold the chain proved empty is voided, a debit waits only
for a mint on its way, a mint the engine did not sign is booked unbacked and held."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text

from activities.token_moves import ProjectionBehind, book_effect
from db import ledger
from domain import entries as e
from domain.chain_events import TokensBurned, TokensMinted, TokensMoved
from tests.books.conftest import make_user

TOKEN = "CTOKEN"

from tests.books.test_solvency_guard import fresh  # noqa: E402,F401


async def credited(books, sats: int) -> tuple[str, str]:
    user, op = await make_user(books), str(uuid.uuid4())
    async with books() as session, session.begin():
        await ledger.post(session, [*e.receipt(f"{op}:0", sats, e.IN_FLIGHT, operation_id=op),
                                    *e.deposit_credit_pending(op, user, sats), *e.deposit_credit_posted(op, user, sats)],
                          token_address=TOKEN)
    return user, op


async def available(books, user: str) -> int:
    async with books() as session:
        return (await ledger.account(session, e.user_istsi(user))).credit_available


async def book(books, effect, users: dict) -> bool:
    async with books() as session, session.begin():
        return await book_effect(session, uuid.uuid4().hex, effect, {k: uuid.UUID(v) for k, v in users.items()},
                                 token_address=TOKEN)


async def test_a_reorg_hold_travels_with_the_tokens(books) -> None:
    alice, op = await credited(books, 1_000)
    bob = await make_user(books)
    async with books() as session, session.begin():
        await ledger.post(session, e.reorg_hold(op, alice, f"{op}:0", held_units=1_000, epoch=1),
                          token_address=TOKEN)
    assert await book(books, TokensMoved("GALICE", "GBOB", 600), {"GALICE": alice, "GBOB": bob})
    assert (await available(books, alice), await available(books, bob)) == (0, 0)  # still held, on both sides
    async with books() as session:
        holds = await ledger.open_pending(session, operation_id=uuid.UUID(op), code="reorg_hold")
        assert sorted(h.amount for h in holds) == [400, 600]
        await session.rollback()
    async with books() as session, session.begin():  # the deposit confirms again: every part is released
        await ledger.post(session, e.reorg_returned(op, f"{op}:0", holds, amount_sats=1_000, epoch=1), token_address=TOKEN)
    assert (await available(books, alice), await available(books, bob)) == (400, 600)


async def test_a_withdrawal_hold_the_chain_proved_empty_is_voided(books) -> None:
    alice, _ = await credited(books, 1_000)
    wd = uuid.uuid4()
    async with books() as session, session.begin():
        await session.execute(text("INSERT INTO operations (id, user_id, operation_type, status, stage, amount) "
                                   "VALUES (:id, :u, 'withdrawal', 'pending', 'awaiting_approval', 800)"),
                              {"id": wd, "u": alice})
        await ledger.post(session, e.withdrawal_hold(wd, alice, 800), token_address=TOKEN)
    assert await book(books, TokensMoved("GALICE", "GOUTSIDE", 500), {"GALICE": alice})
    async with books() as session:
        assert await ledger.get_transfer(session, f"withdrawal-hold:{wd}:void") is not None
        meta = (await session.execute(text("SELECT metadata FROM operations WHERE id = :id"), {"id": wd})).scalar_one()
        external = await ledger.account(session, e.EXTERNAL)
    assert meta["hold_lost"] and await available(books, alice) == 500 and external.credits_posted >= 500


async def test_a_debit_beyond_the_posted_balance_waits_only_for_a_mint_on_its_way(fresh) -> None:  # noqa: F811
    books = fresh
    alice, _ = await credited(books, 100)
    landing = str(uuid.uuid4())  # a mint submitted to Stellar whose credit is not posted yet
    async with books() as session, session.begin():
        await ledger.post(session, [*e.receipt(f"{landing}:0", 50, e.IN_FLIGHT, operation_id=landing),
                                    *e.deposit_credit_pending(landing, alice, 50)], token_address=TOKEN)
        await session.execute(text(
            "INSERT INTO chain_submissions (id, idempotency_key, contract, function, status) "
            "VALUES (:id, :key, 'integration_router', 'execute_bitcoin_deposit', 'signed')"),
            {"id": uuid.uuid4(), "key": f"mint:{landing}"})
    with pytest.raises(ProjectionBehind):
        await book(books, TokensMoved("GALICE", "GOUTSIDE", 150), {"GALICE": alice})
    async with books() as session, session.begin():  # the mint lands and is posted: the move books
        await ledger.post(session, e.deposit_credit_posted(landing, alice, 50), token_address=TOKEN)
    assert await book(books, TokensMoved("GALICE", "GOUTSIDE", 150), {"GALICE": alice})
    assert await available(books, alice) == 0


async def test_tokens_the_books_cannot_place_are_booked_unbacked_and_held_where_they_go(fresh) -> None:  # noqa: F811
    books = fresh
    alice, _ = await credited(books, 100)
    bob = await make_user(books)
    assert await book(books, TokensMoved("GALICE", "GBOB", 130), {"GALICE": alice, "GBOB": bob})  # 30 unseen
    async with books() as session:
        bobs = await ledger.account(session, e.user_istsi(bob))
    assert (bobs.credit_balance, bobs.credit_available) == (130, 100)  # the 30 cannot be redeemed
    assert await book(books, TokensMinted("GALICE", 5_000), {"GALICE": alice})  # booked, held
    assert await available(books, alice) == 0
    assert await book(books, TokensBurned("GALICE", 40), {"GALICE": alice})  # unbacked ones go first
    async with books() as session:
        assert (await ledger.account(session, e.SUSPENSE_BTC)).credits_posted == 0
        assert (await ledger.account(session, e.user_istsi(alice))).debits_pending == 4_960


async def test_a_holders_own_burn_of_backed_tokens_moves_their_btc_to_suspense(books) -> None:
    alice, _ = await credited(books, 100)
    assert await book(books, TokensBurned("GALICE", 40), {"GALICE": alice})
    async with books() as session:
        assert (await ledger.account(session, e.SUSPENSE_BTC)).credits_posted >= 40
    assert await available(books, alice) == 60
