"""The pure ledger (``domain.ledger.Book``): TigerBeetle's create_transfers semantics, limit and limit+1."""

from __future__ import annotations

import pytest

from domain import entries as e
from domain.chart import AccountCode, account_key, balance, new_account, parse_key
from domain.ledger import Book, LedgerError, LedgerId, Result, Transfer, TransferFlags

USER = "00000000-0000-0000-0000-000000000001"
OP = "00000000-0000-0000-0000-0000000000aa"


def book_with(*keys: str) -> Book:
    book = Book()
    book.open(new_account(k) for k in keys)
    return book


def funded_user(units: int) -> Book:
    """A user holding ``units`` credited iSTSi."""
    book = book_with(e.SUPPLY, e.user_istsi(USER), e.IN_FLIGHT, e.BACKING, e.CUSTODY, e.UNPAID, e.FEES)
    book.post(e.receipt("aa:0", units, e.IN_FLIGHT, operation_id=OP))
    book.post(e.deposit_credit_pending(OP, USER, units))
    book.post(e.deposit_credit_posted(OP, USER, units))
    return book


def test_account_keys_round_trip_and_refuse_misuse() -> None:
    assert parse_key(account_key(AccountCode.USER_ISTSI, USER)) == (AccountCode.USER_ISTSI, USER)
    assert parse_key("custody_btc") == (AccountCode.CUSTODY_BTC, None)
    with pytest.raises(ValueError):
        account_key(AccountCode.USER_ISTSI)
    with pytest.raises(ValueError):
        account_key(AccountCode.CUSTODY_BTC, USER)


def test_same_transfer_twice_exists_and_changes_nothing() -> None:
    book = funded_user(1000)
    before = dict(book.accounts)
    assert book.create_transfers(e.deposit_credit_posted(OP, USER, 1000)) == [Result.EXISTS, Result.EXISTS]
    assert book.accounts == before


def test_same_id_other_fields_is_refused() -> None:
    book = funded_user(1000)
    changed = e.receipt("aa:0", 999, e.IN_FLIGHT, operation_id=OP)
    assert book.create_transfers(changed) == [Result.EXISTS_WITH_DIFFERENT_FIELDS]


@pytest.mark.parametrize(("amount", "result"), [(1000, Result.OK), (1001, Result.EXCEEDS_CREDITS)])
def test_hold_up_to_the_balance_and_not_one_unit_more(amount: int, result: Result) -> None:
    book = funded_user(1000)
    assert book.create_transfers(e.withdrawal_hold("w1", USER, amount)) == [result]


def test_two_holds_of_the_whole_balance_only_one_passes() -> None:
    book = funded_user(1000)
    assert book.create_transfers(e.withdrawal_hold("w1", USER, 1000)) == [Result.OK]
    assert book.create_transfers(e.withdrawal_hold("w2", USER, 1)) == [Result.EXCEEDS_CREDITS]
    account = book.accounts[e.user_istsi(USER)]
    assert (balance(account), account.debits_pending, account.credit_available) == (1000, 1000, 0)


def test_pending_resolves_once_post_or_void() -> None:
    book = funded_user(1000)
    book.post(e.withdrawal_hold("w1", USER, 600))
    book.post(e.withdrawal_burn("w1", USER, 600))
    assert book.create_transfers(e.withdrawal_release("w1", USER, 600)) == [Result.PENDING_TRANSFER_ALREADY_POSTED]
    book.post(e.withdrawal_hold("w2", USER, 100))
    book.post(e.withdrawal_release("w2", USER, 100))
    assert book.create_transfers(e.withdrawal_burn("w2", USER, 100))[0] == Result.PENDING_TRANSFER_ALREADY_VOIDED
    assert balance(book.accounts[e.user_istsi(USER)]) == 400
    assert balance(book.accounts[e.SUPPLY]) == 400


def test_post_more_than_pending_is_refused_and_partial_post_releases_the_rest() -> None:
    book = funded_user(1000)
    hold = e.withdrawal_hold("w1", USER, 500)
    book.post(hold)
    assert book.create_transfers([e.resolve(hold[0], post=True, amount=501)]) == [Result.EXCEEDS_PENDING_TRANSFER_AMOUNT]
    book.post([e.resolve(hold[0], post=True, amount=200)])
    account = book.accounts[e.user_istsi(USER)]
    assert (balance(account), account.debits_pending) == (800, 0)


def test_a_failing_transfer_fails_its_whole_linked_chain() -> None:
    book = funded_user(1000)
    before = dict(book.accounts)
    burn = e.withdrawal_burn("never-held", USER, 10)  # post of a hold that does not exist
    backing_first = [Transfer(**{**burn[1].__dict__, "flags": TransferFlags.LINKED}), burn[0]]
    assert book.create_transfers(backing_first) == [Result.LINKED_EVENT_FAILED, Result.PENDING_TRANSFER_NOT_FOUND]
    assert book.accounts == before
    with pytest.raises(LedgerError) as refused:
        book.post(burn)
    assert refused.value.code == Result.PENDING_TRANSFER_NOT_FOUND.value
    assert book.accounts == before


def test_an_open_linked_chain_is_refused() -> None:
    book = funded_user(10)
    transfer = e.receipt("bb:1", 5, e.IN_FLIGHT)[0]
    linked = Transfer(**{**transfer.__dict__, "flags": TransferFlags.LINKED})
    assert book.create_transfers([linked]) == [Result.LINKED_EVENT_CHAIN_OPEN]
    assert "receipt:bb:1" not in book.transfers


@pytest.mark.parametrize(
    ("transfer", "result"),
    [
        (Transfer("t", e.CUSTODY, e.IN_FLIGHT, 0, LedgerId.BTC, "receipt"), Result.AMOUNT_MUST_NOT_BE_ZERO),
        (Transfer("t", e.CUSTODY, e.CUSTODY, 1, LedgerId.BTC, "receipt"), Result.ACCOUNTS_MUST_BE_DIFFERENT),
        (Transfer("t", e.CUSTODY, e.SUPPLY, 1, LedgerId.BTC, "receipt"), Result.TRANSFER_MUST_HAVE_THE_SAME_LEDGER_AS_ACCOUNTS),
        (Transfer("t", e.CUSTODY, "nobody", 1, LedgerId.BTC, "receipt"), Result.CREDIT_ACCOUNT_NOT_FOUND),
        (Transfer("t", e.CUSTODY, e.IN_FLIGHT, 1, LedgerId.BTC, "receipt", TransferFlags.POST_PENDING), Result.PENDING_ID_MUST_BE_SET),
        (Transfer("t", e.CUSTODY, e.IN_FLIGHT, 1, LedgerId.BTC, "receipt", TransferFlags.PENDING | TransferFlags.VOID_PENDING,
                  "x"), Result.FLAGS_ARE_MUTUALLY_EXCLUSIVE),
    ],
)
def test_malformed_transfers_are_refused(transfer: Transfer, result: Result) -> None:
    book = funded_user(10)
    assert book.create_transfers([transfer]) == [result]


def test_reorg_hold_freezes_the_credit_until_it_returns() -> None:
    book = funded_user(1000)
    book.open([new_account(e.SUSPENSE_ISTSI), new_account(e.REORGED), new_account(e.SUSPENSE_BTC)])
    hold = e.reorg_hold(OP, USER, "aa:0", held_units=1000, epoch=1)
    book.post(hold)
    assert book.create_transfers(e.withdrawal_hold("w1", USER, 1)) == [Result.EXCEEDS_CREDITS]
    assert balance(book.accounts[e.CUSTODY]) == 0
    book.post(e.reorg_returned(OP, "aa:0", [hold[0]], amount_sats=1000, epoch=1))
    assert book.create_transfers(e.withdrawal_hold("w1", USER, 1000)) == [Result.OK]
    assert balance(book.accounts[e.CUSTODY]) == 1000


def test_held_tokens_moved_on_chain_carry_their_hold() -> None:
    other = "00000000-0000-0000-0000-000000000002"
    book = funded_user(1000)
    book.open([new_account(k) for k in (e.SUSPENSE_ISTSI, e.REORGED, e.user_istsi(other))])
    hold = e.reorg_hold(OP, USER, "aa:0", held_units=1000, epoch=1)
    book.post(hold)
    to = e.user_istsi(other)
    book.post([*e.hold_moved(hold[0], "ev1", moved_units=600),
               *e.chain_transfer("ev1", e.user_istsi(USER), to, 600),
               *e.hold_arrived(hold[0], "ev1", moved_units=600, to_account=to)])
    assert book.accounts[to].credit_available == 0
    assert book.accounts[e.user_istsi(USER)].credit_available == 0
    holds = [t for k, t in book.transfers.items() if book.is_open(k) and t.code == "reorg_hold"]
    assert sorted(t.amount for t in holds) == [400, 600]
    book.post(e.reorg_returned(OP, "aa:0", holds, amount_sats=1000, epoch=1))
    assert (book.accounts[to].credit_available, book.accounts[e.user_istsi(USER)].credit_available) == (600, 400)
