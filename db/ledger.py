"""The books in Postgres: open accounts, post transfers, look them up (TigerBeetle's interface).

``post`` runs in the caller's transaction, so a step's transfers commit together with its
projection and audit row, or not at all. Inside a savepoint it inserts each transfer with
``ON CONFLICT (id) DO NOTHING``; the AFTER INSERT trigger ``ledger_apply_transfer`` applies it
to both accounts (migration ``0010_books``), the account CHECKs enforce the balance flags, and a
refusal undoes the whole chain. A transfer that exists with the same fields answers ``exists``
(a retried step posts nothing twice).

Errors raised: :class:`domain.ledger.LedgerError` with the TigerBeetle result name as ``code``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import func, or_, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import LedgerAccount, LedgerTransfer, TokenBalance
from domain.chart import KINDS, AccountCode, parse_key
from domain.ledger import Account, AccountFlags, LedgerError, LedgerId, Result, Transfer, TransferFlags

_CHECK_RESULTS = {
    "ck_ledger_accounts_debits_must_not_exceed_credits": Result.EXCEEDS_CREDITS,
    "ck_ledger_accounts_credits_must_not_exceed_debits": Result.EXCEEDS_DEBITS,
}
_RESULT_NAMES = {r.value for r in Result}


@dataclass(frozen=True)
class StoredTransfer:
    """A transfer as stored: the domain transfer plus its journal position and time."""

    transfer: Transfer
    seq: int
    created_at: object


async def open_accounts(session: AsyncSession, keys: Iterable[str], *, token_address: str | None = None) -> None:
    """Create the accounts named by ``keys`` that do not exist (kinds from ``domain.chart``).

    ``token_address`` is recorded on new ``user_istsi`` accounts, whose ``token_balances`` row
    the trigger then keeps current.
    """
    rows = []
    for key in sorted(set(keys)):
        code, user = parse_key(key)
        kind = KINDS[code]
        rows.append({
            "key": key, "ledger": int(kind.ledger), "code": code.value, "flags": int(kind.flags),
            "user_id": uuid.UUID(user) if user else None,
            "token_address": token_address if code == AccountCode.USER_ISTSI else None,
        })
    if rows:
        await session.execute(insert(LedgerAccount).values(rows).on_conflict_do_nothing(index_elements=["key"]))
    projected = [{"id": uuid.uuid4(), "user_id": r["user_id"], "token_address": r["token_address"]}
                 for r in rows if r["code"] == AccountCode.USER_ISTSI and r["token_address"]]
    if projected:  # every user account has its (empty) projection row from the start
        await session.execute(insert(TokenBalance).values(projected).on_conflict_do_nothing(
            constraint="uq_token_balances_user_token"))


async def post(session: AsyncSession, transfers: Sequence[Transfer], *, token_address: str | None = None) -> list[Result]:
    """Post ``transfers`` as one linked chain; one result (``ok`` or ``exists``) per transfer.

    Accounts are created as needed. Raises:
        LedgerError: the first refusal (``exceeds_credits``, ``pending_transfer_already_posted``,
            ``exists_with_different_fields`` …); nothing of the chain is applied.
    """
    if not transfers:
        return []
    await open_accounts(session, [k for t in transfers for k in (t.debit_account, t.credit_account)],
                        token_address=token_address)
    results: list[Result] = []
    current: Transfer | None = None
    try:
        async with session.begin_nested():
            for transfer in transfers:
                current = transfer
                results.append(await _insert(session, transfer))
    except IntegrityError as exc:
        assert current is not None
        raise LedgerError(await _integrity_result(session, exc, current), current.id) from exc
    except DBAPIError as exc:
        assert current is not None
        raise LedgerError(_raised_result(exc), current.id, str(exc.orig)) from exc
    return results


async def _insert(session: AsyncSession, transfer: Transfer) -> Result:
    values = {
        "id": transfer.id, "debit_account": transfer.debit_account, "credit_account": transfer.credit_account,
        "amount": transfer.amount, "ledger": int(transfer.ledger), "code": str(transfer.code),
        "flags": int(transfer.flags & ~TransferFlags.LINKED), "pending_id": transfer.pending_id,
        "operation_id": uuid.UUID(transfer.operation_id) if transfer.operation_id else None,
    }
    if transfer.amount <= 0:
        raise LedgerError(Result.AMOUNT_MUST_NOT_BE_ZERO, transfer.id)
    if transfer.debit_account == transfer.credit_account:
        raise LedgerError(Result.ACCOUNTS_MUST_BE_DIFFERENT, transfer.id)
    stmt = insert(LedgerTransfer).values(values).on_conflict_do_nothing(index_elements=["id"]).returning(LedgerTransfer.seq)
    if (await session.execute(stmt)).scalar_one_or_none() is not None:
        return Result.OK
    existing = await get_transfer(session, transfer.id)
    assert existing is not None
    if not existing.transfer.same_fields(transfer):
        raise LedgerError(Result.EXISTS_WITH_DIFFERENT_FIELDS, transfer.id)
    return Result.EXISTS


async def _integrity_result(session: AsyncSession, exc: IntegrityError, transfer: Transfer) -> Result:
    diag = getattr(exc.orig, "diag", None)
    constraint = getattr(diag, "constraint_name", None) or ""
    if constraint in _CHECK_RESULTS:
        return _CHECK_RESULTS[constraint]
    if constraint == "ux_ledger_transfers_resolves":
        flags = (await session.execute(
            select(LedgerTransfer.flags).where(LedgerTransfer.pending_id == transfer.pending_id)
        )).scalar_one()
        posted = flags & TransferFlags.POST_PENDING
        return Result.PENDING_TRANSFER_ALREADY_POSTED if posted else Result.PENDING_TRANSFER_ALREADY_VOIDED
    if constraint == "ledger_transfers_pending_id_fkey":
        return Result.PENDING_TRANSFER_NOT_FOUND
    raise exc


def _raised_result(exc: DBAPIError) -> Result:
    diag = getattr(exc.orig, "diag", None)
    message = (getattr(diag, "message_primary", None) or "").strip()
    if message in _RESULT_NAMES:
        return Result(message)
    raise exc


def _domain(row: LedgerTransfer) -> Transfer:
    return Transfer(
        id=row.id, debit_account=row.debit_account, credit_account=row.credit_account, amount=row.amount,
        ledger=LedgerId(row.ledger), code=row.code, flags=TransferFlags(row.flags), pending_id=row.pending_id,
        operation_id=str(row.operation_id) if row.operation_id else None,
    )


def _account(row: LedgerAccount) -> Account:
    return Account(
        key=row.key, ledger=LedgerId(row.ledger), flags=AccountFlags(row.flags), debits_pending=row.debits_pending,
        debits_posted=row.debits_posted, credits_pending=row.credits_pending, credits_posted=row.credits_posted,
    )


async def get_transfer(session: AsyncSession, transfer_id: str) -> StoredTransfer | None:
    """The transfer ``transfer_id``, or None."""
    row = await session.get(LedgerTransfer, transfer_id)
    return StoredTransfer(_domain(row), row.seq, row.created_at) if row is not None else None


async def lookup_accounts(session: AsyncSession, keys: Iterable[str], *, for_update: bool = False) -> dict[str, Account]:
    """The accounts of ``keys`` that exist (``for_update`` locks them in key order)."""
    stmt = select(LedgerAccount).where(LedgerAccount.key.in_(sorted(set(keys)))).order_by(LedgerAccount.key)  # type: ignore[attr-defined]
    if for_update:
        stmt = stmt.with_for_update()
    return {row.key: _account(row) for row in (await session.execute(stmt)).scalars()}


async def account(session: AsyncSession, key: str) -> Account:
    """One account (an empty one of its kind when it was never opened)."""
    from domain.chart import new_account

    found = await lookup_accounts(session, [key])
    return found.get(key) or new_account(key)


async def list_accounts(
    session: AsyncSession, *, code: str | None = None, after_key: str | None = None, limit: int = 100
) -> list[tuple[Account, uuid.UUID | None]]:
    """Accounts in key order (``code`` filters by kind), with their user id."""
    stmt = select(LedgerAccount).order_by(LedgerAccount.key).limit(limit)
    if code is not None:
        stmt = stmt.where(LedgerAccount.code == code)
    if after_key is not None:
        stmt = stmt.where(LedgerAccount.key > after_key)
    return [(_account(r), r.user_id) for r in (await session.execute(stmt)).scalars()]


async def transfers_of_operation(session: AsyncSession, operation_id: uuid.UUID) -> list[StoredTransfer]:
    """Every transfer of one operation, in journal order."""
    stmt = select(LedgerTransfer).where(LedgerTransfer.operation_id == operation_id).order_by(LedgerTransfer.seq)
    return [StoredTransfer(_domain(r), r.seq, r.created_at) for r in (await session.execute(stmt)).scalars()]


async def transfers_of_account(
    session: AsyncSession, key: str, *, before_seq: int | None = None, limit: int = 50
) -> list[StoredTransfer]:
    """Transfers debiting or crediting ``key``, newest first (``before_seq`` pages)."""
    stmt = select(LedgerTransfer).where(
        or_(LedgerTransfer.debit_account == key, LedgerTransfer.credit_account == key)
    ).order_by(LedgerTransfer.seq.desc()).limit(limit)  # type: ignore[attr-defined]
    if before_seq is not None:
        stmt = stmt.where(LedgerTransfer.seq < before_seq)
    return [StoredTransfer(_domain(r), r.seq, r.created_at) for r in (await session.execute(stmt)).scalars()]


async def open_pending(session: AsyncSession, *, operation_id: uuid.UUID | None = None,
                       code: str | None = None, debit_account: str | None = None) -> list[Transfer]:
    """Pending transfers not yet posted or voided (filtered by operation, code, debited account)."""
    resolver = LedgerTransfer.__table__.alias("resolver")
    stmt = select(LedgerTransfer).where(
        LedgerTransfer.flags.op("&")(int(TransferFlags.PENDING)) != 0,  # type: ignore[attr-defined]
        ~select(resolver.c.id).where(resolver.c.pending_id == LedgerTransfer.id).exists(),
    ).order_by(LedgerTransfer.seq)
    if operation_id is not None:
        stmt = stmt.where(LedgerTransfer.operation_id == operation_id)
    if code is not None:
        stmt = stmt.where(LedgerTransfer.code == code)
    if debit_account is not None:
        stmt = stmt.where(LedgerTransfer.debit_account == debit_account)
    return [_domain(r) for r in (await session.execute(stmt)).scalars()]


async def journal_position(session: AsyncSession) -> tuple[int, int]:
    """``(highest seq, transfer count)`` visible to this transaction: the pinned position of a
    snapshot (REPEATABLE READ) that balances read in the same transaction correspond to."""
    row = (await session.execute(select(func.coalesce(func.max(LedgerTransfer.seq), 0), func.count()))).one()
    return int(row[0]), int(row[1])


async def lock_books(session: AsyncSession, name: str) -> None:
    """A transaction-scoped advisory lock named ``name`` (serialises guards that read, then post)."""
    await session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:name, 0))"), {"name": f"books:{name}"})
