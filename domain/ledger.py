"""The double-entry ledger's rules on TigerBeetle's model (pure: no I/O, no clock).

Source: TigerBeetle reference, "Accounts", "Transfers", "Two-phase transfers" and
``create_transfers`` results (docs.tigerbeetle.com/reference). We take its model, not its server:
Postgres stores the same records (``db/ledger.py``) and a trigger applies exactly the rules of
:class:`Book` below, which the property tests drive directly.

* An **account** lives on one ledger (one per asset: :class:`LedgerId`) and carries four
  counters, all integers in the ledger's unit: ``debits_pending``, ``debits_posted``,
  ``credits_pending``, ``credits_posted``. Its balance is derived; nothing else is stored.
* A **transfer** moves ``amount`` from one debit account to one credit account of the same
  ledger. It is immutable and unique by ``id``: creating it again with the same fields answers
  ``exists`` (a retry posts nothing twice), with other fields ``exists_with_different_fields``.
* **Two-phase**: a ``PENDING`` transfer only moves the ``*_pending`` counters; later exactly one
  ``POST_PENDING`` (amount up to the pending amount; the rest is released) or
  ``VOID_PENDING`` transfer, naming it by ``pending_id``, resolves it.
* **Balance flags** on an account make an overdraft a refused transfer:
  ``DEBITS_MUST_NOT_EXCEED_CREDITS``: ``debits_pending + debits_posted <= credits_posted``;
  ``CREDITS_MUST_NOT_EXCEED_DEBITS``: ``credits_pending + credits_posted <= debits_posted``.
* **Linked** transfers (``LINKED`` on every transfer of a chain but the last) succeed or fail
  together; in Postgres one database transaction carries a chain.

Corrections are new transfers (reversals), never updates.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from enum import IntEnum, IntFlag, StrEnum

from domain.errors import DomainError


class LedgerId(IntEnum):
    """One ledger per asset; transfers never cross ledgers."""

    BTC = 1
    """Bitcoin, in satoshis."""
    ISTSI = 2
    """iSTSi, in base units (1 base unit = 1 satoshi of backing)."""


class AccountFlags(IntFlag):
    """Balance invariants enforced on every transfer (TigerBeetle ``AccountFlags`` bits)."""

    NONE = 0
    DEBITS_MUST_NOT_EXCEED_CREDITS = 1 << 1
    CREDITS_MUST_NOT_EXCEED_DEBITS = 1 << 2


class TransferFlags(IntFlag):
    """TigerBeetle ``TransferFlags`` bits used here."""

    NONE = 0
    LINKED = 1 << 0
    PENDING = 1 << 1
    POST_PENDING = 1 << 2
    VOID_PENDING = 1 << 3


class Result(StrEnum):
    """Outcome of creating one transfer (TigerBeetle ``CreateTransferResult`` names)."""

    OK = "ok"
    EXISTS = "exists"
    EXISTS_WITH_DIFFERENT_FIELDS = "exists_with_different_fields"
    LINKED_EVENT_FAILED = "linked_event_failed"
    LINKED_EVENT_CHAIN_OPEN = "linked_event_chain_open"
    FLAGS_ARE_MUTUALLY_EXCLUSIVE = "flags_are_mutually_exclusive"
    AMOUNT_MUST_NOT_BE_ZERO = "amount_must_not_be_zero"
    ACCOUNTS_MUST_BE_DIFFERENT = "accounts_must_be_different"
    DEBIT_ACCOUNT_NOT_FOUND = "debit_account_not_found"
    CREDIT_ACCOUNT_NOT_FOUND = "credit_account_not_found"
    TRANSFER_MUST_HAVE_THE_SAME_LEDGER_AS_ACCOUNTS = "transfer_must_have_the_same_ledger_as_accounts"
    PENDING_ID_MUST_BE_SET = "pending_id_must_be_set"
    PENDING_ID_MUST_NOT_BE_SET = "pending_id_must_not_be_set"
    PENDING_TRANSFER_NOT_FOUND = "pending_transfer_not_found"
    PENDING_TRANSFER_NOT_PENDING = "pending_transfer_not_pending"
    PENDING_TRANSFER_HAS_DIFFERENT_ACCOUNTS = "pending_transfer_has_different_accounts"
    PENDING_TRANSFER_ALREADY_POSTED = "pending_transfer_already_posted"
    PENDING_TRANSFER_ALREADY_VOIDED = "pending_transfer_already_voided"
    EXCEEDS_PENDING_TRANSFER_AMOUNT = "exceeds_pending_transfer_amount"
    PENDING_TRANSFER_HAS_DIFFERENT_AMOUNT = "pending_transfer_has_different_amount"
    EXCEEDS_CREDITS = "exceeds_credits"
    EXCEEDS_DEBITS = "exceeds_debits"

    @property
    def ok(self) -> bool:
        """True when the transfer is now in the ledger (created now or before, identically)."""
        return self in (Result.OK, Result.EXISTS)


class LedgerError(DomainError):
    """A transfer the ledger refused; ``code`` is the :class:`Result` value, ``transfer_id`` which."""

    code = "ledger_refused"

    def __init__(self, result: Result, transfer_id: str, message: str | None = None) -> None:
        super().__init__(message or f"transfer {transfer_id}: {result.value}")
        self.result = result
        self.code = result.value
        self.transfer_id = transfer_id


@dataclass(frozen=True)
class Account:
    """One account: its ledger, flags and four counters (units of its ledger)."""

    key: str
    ledger: LedgerId
    flags: AccountFlags = AccountFlags.NONE
    debits_pending: int = 0
    debits_posted: int = 0
    credits_pending: int = 0
    credits_posted: int = 0

    @property
    def credit_balance(self) -> int:
        """Posted credits minus posted debits (the balance of a credit-normal account)."""
        return self.credits_posted - self.debits_posted

    @property
    def debit_balance(self) -> int:
        """Posted debits minus posted credits (the balance of a debit-normal account)."""
        return self.debits_posted - self.credits_posted

    @property
    def credit_available(self) -> int:
        """What a credit-normal account can still be debited: posted balance minus pending debits."""
        return self.credits_posted - self.debits_posted - self.debits_pending

    def violation(self) -> Result | None:
        """The balance flag this account breaks, if any."""
        if self.flags & AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS and (
            self.debits_pending + self.debits_posted > self.credits_posted
        ):
            return Result.EXCEEDS_CREDITS
        if self.flags & AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS and (
            self.credits_pending + self.credits_posted > self.debits_posted
        ):
            return Result.EXCEEDS_DEBITS
        return None


@dataclass(frozen=True)
class Transfer:
    """One immutable movement of ``amount`` (> 0) between two accounts of ``ledger``.

    ``id`` is derived from the operation and the step (``deposit-credit:<operation id>``), never
    from a clock, so a retried step creates the same id. ``code`` says why (a
    ``domain.chart.TransferCode`` value); ``operation_id`` ties it to an ``operations`` row.
    For ``POST_PENDING``/``VOID_PENDING`` the accounts must be the pending transfer's.
    """

    id: str
    debit_account: str
    credit_account: str
    amount: int
    ledger: LedgerId
    code: str
    flags: TransferFlags = TransferFlags.NONE
    pending_id: str | None = None
    operation_id: str | None = None

    @property
    def is_pending(self) -> bool:
        return bool(self.flags & TransferFlags.PENDING)

    @property
    def resolves(self) -> bool:
        """True for a transfer that posts or voids a pending one."""
        return bool(self.flags & (TransferFlags.POST_PENDING | TransferFlags.VOID_PENDING))

    def same_fields(self, other: Transfer) -> bool:
        """Equal in everything but the ``LINKED`` bit (a chain may be re-sent split differently)."""
        mask = ~TransferFlags.LINKED
        return replace(self, flags=self.flags & mask) == replace(other, flags=other.flags & mask)


def validate(transfer: Transfer) -> Result | None:
    """Checks that need no stored state (TigerBeetle's order, as far as it applies)."""
    phase = transfer.flags & (TransferFlags.PENDING | TransferFlags.POST_PENDING | TransferFlags.VOID_PENDING)
    if phase not in (TransferFlags.NONE, TransferFlags.PENDING, TransferFlags.POST_PENDING, TransferFlags.VOID_PENDING):
        return Result.FLAGS_ARE_MUTUALLY_EXCLUSIVE
    if transfer.resolves and transfer.pending_id is None:
        return Result.PENDING_ID_MUST_BE_SET
    if not transfer.resolves and transfer.pending_id is not None:
        return Result.PENDING_ID_MUST_NOT_BE_SET
    if transfer.amount <= 0:
        return Result.AMOUNT_MUST_NOT_BE_ZERO
    if transfer.debit_account == transfer.credit_account:
        return Result.ACCOUNTS_MUST_BE_DIFFERENT
    return None


def apply(debit: Account, credit: Account, transfer: Transfer, pending: Transfer | None) -> tuple[Account, Account]:
    """The two accounts after ``transfer`` (``pending``: the transfer it resolves, if any).

    Flags are not checked here (see :meth:`Account.violation`).
    """
    amount = transfer.amount
    if transfer.is_pending:
        return (replace(debit, debits_pending=debit.debits_pending + amount),
                replace(credit, credits_pending=credit.credits_pending + amount))
    if transfer.resolves:
        assert pending is not None
        held = pending.amount
        posted = amount if transfer.flags & TransferFlags.POST_PENDING else 0
        return (replace(debit, debits_pending=debit.debits_pending - held, debits_posted=debit.debits_posted + posted),
                replace(credit, credits_pending=credit.credits_pending - held,
                        credits_posted=credit.credits_posted + posted))
    return (replace(debit, debits_posted=debit.debits_posted + amount),
            replace(credit, credits_posted=credit.credits_posted + amount))


@dataclass
class Book:
    """An in-memory ledger with the exact semantics of the Postgres one (for rules and tests).

    ``create_transfers`` follows TigerBeetle: transfers are applied in order; a failing transfer
    in a linked chain fails the whole chain (the others answer ``linked_event_failed``) and
    leaves no trace.
    """

    accounts: dict[str, Account] = field(default_factory=dict)
    transfers: dict[str, Transfer] = field(default_factory=dict)
    #: pending id -> id of the transfer that posted or voided it
    resolved: dict[str, str] = field(default_factory=dict)
    journal: list[str] = field(default_factory=list)

    def open(self, accounts: Iterable[Account]) -> None:
        """Create accounts that do not exist yet (idempotent)."""
        for account in accounts:
            self.accounts.setdefault(account.key, account)

    def create_transfers(self, transfers: Sequence[Transfer]) -> list[Result]:
        """Create ``transfers``; one result per transfer, in order."""
        results: list[Result] = [Result.OK] * len(transfers)
        start = 0
        while start < len(transfers):
            end = start
            while end < len(transfers) - 1 and transfers[end].flags & TransferFlags.LINKED:
                end += 1
            snapshot = (dict(self.accounts), dict(self.transfers), dict(self.resolved), list(self.journal))
            failed_at = None
            for index in range(start, end + 1):
                results[index] = self._create_one(transfers[index])
                if not results[index].ok:
                    failed_at = index
                    break
            if failed_at is None and transfers[end].flags & TransferFlags.LINKED:
                results[end], failed_at = Result.LINKED_EVENT_CHAIN_OPEN, end
            if failed_at is not None:
                self.accounts, self.transfers, self.resolved, self.journal = snapshot
                for index in range(start, end + 1):
                    if index != failed_at:
                        results[index] = Result.LINKED_EVENT_FAILED
            start = end + 1
        return results

    def post(self, transfers: Sequence[Transfer]) -> None:
        """Create ``transfers`` as one linked chain; raise on the first refusal (nothing applied).

        Raises:
            LedgerError: with the refusing transfer's result.
        """
        linked = [replace(t, flags=t.flags | TransferFlags.LINKED) for t in transfers[:-1]] + list(transfers[-1:])
        results = self.create_transfers(linked)
        for transfer, result in zip(linked, results, strict=True):
            if not result.ok and result != Result.LINKED_EVENT_FAILED:
                raise LedgerError(result, transfer.id)

    def _create_one(self, transfer: Transfer) -> Result:
        existing = self.transfers.get(transfer.id)
        if existing is not None:
            return Result.EXISTS if existing.same_fields(transfer) else Result.EXISTS_WITH_DIFFERENT_FIELDS
        problem = validate(transfer)
        if problem is not None:
            return problem
        debit, credit = self.accounts.get(transfer.debit_account), self.accounts.get(transfer.credit_account)
        if debit is None:
            return Result.DEBIT_ACCOUNT_NOT_FOUND
        if credit is None:
            return Result.CREDIT_ACCOUNT_NOT_FOUND
        if debit.ledger != transfer.ledger or credit.ledger != transfer.ledger:
            return Result.TRANSFER_MUST_HAVE_THE_SAME_LEDGER_AS_ACCOUNTS
        pending = None
        if transfer.resolves:
            assert transfer.pending_id is not None
            pending = self.transfers.get(transfer.pending_id)
            problem = _check_resolution(transfer, pending, self.resolved, self.transfers)
            if problem is not None:
                return problem
        new_debit, new_credit = apply(debit, credit, transfer, pending)
        for account in (new_debit, new_credit):
            violation = account.violation()
            if violation is not None:
                return violation
        self.accounts[debit.key], self.accounts[credit.key] = new_debit, new_credit
        self.transfers[transfer.id] = transfer
        if transfer.resolves:
            assert transfer.pending_id is not None
            self.resolved[transfer.pending_id] = transfer.id
        self.journal.append(transfer.id)
        return Result.OK

    def is_open(self, pending_id: str) -> bool:
        """True while the pending transfer ``pending_id`` exists and is neither posted nor voided."""
        found = self.transfers.get(pending_id)
        return found is not None and found.is_pending and pending_id not in self.resolved


def _check_resolution(
    transfer: Transfer, pending: Transfer | None, resolved: dict[str, str], transfers: dict[str, Transfer]
) -> Result | None:
    if pending is None:
        return Result.PENDING_TRANSFER_NOT_FOUND
    if not pending.is_pending:
        return Result.PENDING_TRANSFER_NOT_PENDING
    if (pending.debit_account, pending.credit_account) != (transfer.debit_account, transfer.credit_account):
        return Result.PENDING_TRANSFER_HAS_DIFFERENT_ACCOUNTS
    if pending.id in resolved:
        by = transfers[resolved[pending.id]]
        return (Result.PENDING_TRANSFER_ALREADY_POSTED if by.flags & TransferFlags.POST_PENDING
                else Result.PENDING_TRANSFER_ALREADY_VOIDED)
    if transfer.amount > pending.amount:
        return Result.EXCEEDS_PENDING_TRANSFER_AMOUNT
    if transfer.flags & TransferFlags.VOID_PENDING and transfer.amount != pending.amount:
        return Result.PENDING_TRANSFER_HAS_DIFFERENT_AMOUNT
    return None


def ledger_totals(accounts: Iterable[Account], ledger: LedgerId) -> tuple[int, int, int, int]:
    """``(debits_pending, debits_posted, credits_pending, credits_posted)`` summed over one ledger.

    Every transfer adds the same amount to one debit and one credit counter of its ledger, so
    pending debits equal pending credits and posted debits equal posted credits: the first
    check of ``custody ledger check``.
    """
    dp = dpo = cp = cpo = 0
    for a in accounts:
        if a.ledger == ledger:
            dp, dpo, cp, cpo = dp + a.debits_pending, dpo + a.debits_posted, cp + a.credits_pending, cpo + a.credits_posted
    return dp, dpo, cp, cpo
