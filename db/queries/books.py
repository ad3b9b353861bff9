"""Figures of the books for reconciliation, proofs and checks: balances by kind and the money
in flight, item by item (a bounded number of aggregate queries, whatever the size of the book).

Amounts are satoshis (= base units). Each item query returns at most ``limit`` rows, largest
first, plus the total of all of them, so a run stores why it is quiet without storing a
million rows.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession


@dataclass(frozen=True)
class Items:
    """``rows`` (reference, amount, detail) of the largest items and the ``total`` of all of them."""

    rows: list[tuple[str, int, str]]
    total: int


async def balance_by_code(session: AsyncSession) -> dict[str, tuple[int, int, int, int]]:
    """``code → (debits_pending, debits_posted, credits_pending, credits_posted)`` summed per kind.

    One read of the shared accounts (one row per kind) and of the running totals of the per-user
    kinds the figures need; ``user_istsi`` is not summed here (its total is ``istsi_supply``'s)."""
    rows = await session.execute(text(
        "SELECT code, debits_pending, debits_posted, credits_pending, credits_posted FROM ledger_accounts "
        "WHERE user_id IS NULL "
        "UNION ALL SELECT code, debits_pending, debits_posted, credits_pending, credits_posted FROM ledger_code_totals"))
    return {r[0]: (int(r[1]), int(r[2]), int(r[3]), int(r[4])) for r in rows.all()}


async def code_totals(session: AsyncSession, code: str) -> tuple[int, int, int, int] | None:
    """The running totals of one per-user kind (``ledger_code_totals``: ``pending_receipts``)."""
    row = (await session.execute(text(
        "SELECT debits_pending, debits_posted, credits_pending, credits_posted FROM ledger_code_totals WHERE code = :c"),
        {"c": code})).one_or_none()
    return (int(row[0]), int(row[1]), int(row[2]), int(row[3])) if row else None


async def _items(session: AsyncSession, sql: str, limit: int, **params) -> Items:
    rows = (await session.execute(text(
        f"WITH items AS ({sql}) SELECT ref, amount, detail, SUM(amount) OVER () FROM items "
        "ORDER BY amount DESC, ref LIMIT :limit"), {"limit": limit, **params})).all()
    return Items([(str(r[0]), int(r[1]), str(r[2] or "")) for r in rows], int(rows[0][3]) if rows else 0)


async def _uncredited_items(
    session: AsyncSession, *, columns: str, held_in: str, limit: int, group_by: str | None = None
) -> Items:
    """Items among the live custody outputs not credited yet whose ``held_in`` matches ``held_in``
    (an SQL condition); ``columns`` selects ``ref, amount, detail``. ``held_in <> 'istsi_backing'``
    lets the read go through the partial index ``ix_custody_utxos_uncredited`` instead of over
    every credited output."""
    grouped = f" GROUP BY {group_by}" if group_by else ""
    return await _items(session, (
        f"SELECT {columns} FROM custody_utxos WHERE {held_in} AND held_in <> 'istsi_backing' "
        f"AND state IN ('seen','confirmed','reserved'){grouped}"), limit)


async def deposits_in_flight(session: AsyncSession, *, limit: int) -> Items:
    """Deposits whose BTC is in custody and not credited yet (per operation)."""
    return await _uncredited_items(
        session, columns="operation_id::text AS ref, SUM(value_sats) AS amount, string_agg(outpoint, ',') AS detail",
        held_in="held_in = 'deposits_in_flight'", group_by="operation_id", limit=limit)


async def pending_receipts(session: AsyncSession, *, limit: int) -> Items:
    """BTC received for users that is not a deposit yet (per user)."""
    return await _uncredited_items(
        session,
        columns="substring(held_in from 18) AS ref, SUM(value_sats) AS amount, count(*)::text || ' outputs' AS detail",
        held_in="held_in LIKE 'pending_receipts:%'", group_by="held_in", limit=limit)


async def unattributed_receipts(session: AsyncSession, *, limit: int) -> Items:
    """BTC paid to a custody address no user owns (per output)."""
    return await _uncredited_items(
        session, columns="outpoint AS ref, value_sats AS amount, address AS detail",
        held_in="held_in = 'unattributed_receipts'", limit=limit)


async def reorg_holds(session: AsyncSession, *, limit: int) -> Items:
    """Credited deposits whose outputs left the chain (their BTC in ``reorged_deposits``)."""
    return await _items(session, (
        "SELECT outpoint AS ref, value_sats AS amount, COALESCE(operation_id::text, '') AS detail FROM custody_utxos "
        "WHERE held_in = 'istsi_backing' AND state IN ('seen','vanished')"), limit)


async def open_pending_by_code(session: AsyncSession, code: str, *, limit: int) -> Items:
    """Open pending transfers of one code, per operation."""
    return await _items(session, (
        "SELECT COALESCE(t.operation_id::text, t.id) AS ref, SUM(t.amount) AS amount, string_agg(t.id, ',') AS detail "
        "FROM ledger_transfers t WHERE t.code = :code AND (t.flags & 2) <> 0 "
        "AND NOT EXISTS (SELECT 1 FROM ledger_transfers r WHERE r.pending_id = t.id) "
        "GROUP BY COALESCE(t.operation_id::text, t.id)"), limit, code=code)


async def fee_bumps_in_flight(session: AsyncSession, *, limit: int) -> Items:
    """Extra fees of signed payout versions not yet settled (per payout): the custodian's, from
    the fee reserve; ``detail`` lists the versions' transfers."""
    return await _items(session, (
        "SELECT split_part(t.id, ':', 2) AS ref, SUM(t.amount) AS amount, string_agg(t.id, ',') AS detail "
        "FROM ledger_transfers t WHERE t.code = 'fee_bump' AND t.debit_account = 'network_fees' "
        "AND (t.flags & 2) <> 0 AND NOT EXISTS (SELECT 1 FROM ledger_transfers r WHERE r.pending_id = t.id) "
        "GROUP BY split_part(t.id, ':', 2)"), limit)


async def burns_in_progress(session: AsyncSession, *, limit: int) -> Items:
    """Withdrawal holds whose burn has been submitted to Stellar but not yet posted."""
    return await _items(session, (
        "SELECT t.operation_id::text AS ref, t.amount AS amount, o.stage AS detail FROM ledger_transfers t "
        "JOIN operations o ON o.id = t.operation_id "
        "WHERE t.code = 'withdrawal_hold' AND (t.flags & 2) <> 0 "
        "AND NOT EXISTS (SELECT 1 FROM ledger_transfers r WHERE r.pending_id = t.id) "
        "AND EXISTS (SELECT 1 FROM chain_submissions s WHERE s.idempotency_key = 'withdrawal-burn:' || t.operation_id)"),
        limit)


async def mints_in_progress(session: AsyncSession, *, limit: int) -> Items:
    """Pending deposit credits (placed by the guard) on the iSTSi ledger whose mint has been
    submitted to Stellar and not refused: only these can explain supply not booked yet. A
    credit whose mint never left (or was refused) explains nothing."""
    return await _items(session, (
        "SELECT t.operation_id::text AS ref, t.amount AS amount, t.id AS detail FROM ledger_transfers t "
        "WHERE t.code = 'deposit_credit' AND t.ledger = 2 AND (t.flags & 2) <> 0 "
        "AND NOT EXISTS (SELECT 1 FROM ledger_transfers r WHERE r.pending_id = t.id) "
        "AND EXISTS (SELECT 1 FROM chain_submissions s WHERE s.idempotency_key = 'mint:' || t.operation_id "
        "AND s.status <> 'failed')"), limit)


async def mint_in_flight(session: AsyncSession, account_key: str) -> bool:
    """Whether ``account_key`` (a ``user_istsi`` account) has a pending deposit credit whose
    mint was submitted to Stellar and not refused (its posting is about to land)."""
    return bool((await session.execute(text(
        "SELECT EXISTS (SELECT 1 FROM ledger_transfers t WHERE t.code = 'deposit_credit' AND t.ledger = 2 "
        "AND t.credit_account = :key AND (t.flags & 2) <> 0 "
        "AND NOT EXISTS (SELECT 1 FROM ledger_transfers r WHERE r.pending_id = t.id) "
        "AND EXISTS (SELECT 1 FROM chain_submissions s WHERE s.idempotency_key = 'mint:' || t.operation_id "
        "AND s.status <> 'failed'))"), {"key": account_key})).scalar_one())


async def user_pending_mints(session: AsyncSession, user_ids: list) -> dict:
    """Per user: iSTSi credits being minted now (pending credits on their account)."""
    if not user_ids:
        return {}
    rows = await session.execute(text(
        "SELECT user_id, credits_pending, debits_pending FROM ledger_accounts WHERE code = 'user_istsi' "
        "AND user_id = ANY(:ids)"), {"ids": list(user_ids)})
    return {r[0]: (int(r[1]), int(r[2])) for r in rows.all()}
