"""Invariants of the books that Postgres alone can prove (``custody ledger check``, tests).

Each check is one aggregate query, so the whole check is bounded by the size of the tables,
not by the number of round trips:

1. every ledger balances: pending debits = pending credits, posted debits = posted credits;
2. every account equals the sum of its transfers (nothing was written around the trigger);
3. no balance flag is broken (the CHECKs make this impossible; proving it costs nothing);
4. ``token_balances`` equals its ``user_istsi`` account (balance and reserved), row for row;
5. every resolving transfer resolves a pending one, at most once (the unique index says so);
6. the custody UTXO set equals the books' ``custody_btc`` (net of payouts being signed);
7. ``istsi_backing`` (BTC) equals ``istsi_supply`` (iSTSi) except for holders' own burns;
8. each signed, unsettled payout has every one of its withdrawals pending in the books (recipient
   and fee share), exactly what the payout spends for them;
9. the UTXO set counts the change of one version of each payout at most (replacements and CPFP
   children never double the change).
10. the running totals (``custody_utxo_totals``, ``ledger_code_totals``) equal their rows.

The chain checks (UTXO set vs Esplora, supply vs Stellar, custody ≥ liabilities) are
reconciliation's; ``custody ledger check`` runs them too (``cli/ledger.py``).
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from db.queries import custody
from domain.check_report import CheckReport


async def check_books(session: AsyncSession) -> CheckReport:
    """Run every Postgres-side invariant in the caller's (ideally REPEATABLE READ) transaction."""
    report = CheckReport()
    rows = (await session.execute(text(
        "SELECT ledger, SUM(debits_pending) - SUM(credits_pending), SUM(debits_posted) - SUM(credits_posted) "
        "FROM ledger_accounts GROUP BY ledger"))).all()
    report.expect("each ledger balances", [
        f"ledger {r[0]}: pending debits - credits = {r[1]}, posted debits - credits = {r[2]}" for r in rows if r[1] or r[2]
    ])
    rows = (await session.execute(text(
        """
        WITH moves AS (
            SELECT debit_account AS key,
                   SUM(CASE WHEN flags & 2 <> 0 THEN amount ELSE 0 END) AS dpend_in,
                   SUM(CASE WHEN flags & 14 = 0 OR flags & 4 <> 0 THEN amount ELSE 0 END) AS dpost,
                   0::numeric AS cpend_in, 0::numeric AS cpost
            FROM ledger_transfers GROUP BY debit_account
            UNION ALL
            SELECT credit_account, 0, 0,
                   SUM(CASE WHEN flags & 2 <> 0 THEN amount ELSE 0 END),
                   SUM(CASE WHEN flags & 14 = 0 OR flags & 4 <> 0 THEN amount ELSE 0 END)
            FROM ledger_transfers GROUP BY credit_account
        ),
        resolved AS (
            SELECT p.debit_account AS dkey, p.credit_account AS ckey, p.amount
            FROM ledger_transfers p WHERE p.flags & 2 <> 0
              AND EXISTS (SELECT 1 FROM ledger_transfers r WHERE r.pending_id = p.id)
        ),
        resolved_d AS (SELECT dkey AS key, SUM(amount) AS amount FROM resolved GROUP BY dkey),
        resolved_c AS (SELECT ckey AS key, SUM(amount) AS amount FROM resolved GROUP BY ckey),
        expected AS (
            SELECT key, SUM(dpend_in) AS dpend, SUM(dpost) AS dpost, SUM(cpend_in) AS cpend, SUM(cpost) AS cpost
            FROM moves GROUP BY key
        )
        SELECT a.key,
               a.debits_pending, COALESCE(x.dpend, 0) - COALESCE(rd.amount, 0),
               a.debits_posted, COALESCE(x.dpost, 0),
               a.credits_pending, COALESCE(x.cpend, 0) - COALESCE(rc.amount, 0),
               a.credits_posted, COALESCE(x.cpost, 0)
        FROM ledger_accounts a
        LEFT JOIN expected x ON x.key = a.key
        LEFT JOIN resolved_d rd ON rd.key = a.key
        LEFT JOIN resolved_c rc ON rc.key = a.key
        """))).all()
    report.expect("each account equals the sum of its transfers", [
        f"{r[0]}: stored ({r[1]}, {r[3]}, {r[5]}, {r[7]}) vs transfers ({r[2]}, {r[4]}, {r[6]}, {r[8]})"
        for r in rows if (r[1], r[3], r[5], r[7]) != (r[2], r[4], r[6], r[8])
    ])
    rows = (await session.execute(text(
        "SELECT key FROM ledger_accounts WHERE ((flags & 2) <> 0 AND debits_pending + debits_posted > credits_posted) "
        "OR ((flags & 4) <> 0 AND credits_pending + credits_posted > debits_posted)"))).scalars().all()
    report.expect("no balance flag is broken", [f"{k} overdrawn" for k in rows])
    rows = (await session.execute(text(
        """
        SELECT COALESCE(a.user_id, b.user_id), a.credits_posted - a.debits_posted, a.debits_pending,
               b.balance, b.reserved_balance
        FROM ledger_accounts a FULL OUTER JOIN token_balances b
          ON a.user_id = b.user_id AND a.token_address = b.token_address
        WHERE (a.key IS NULL OR a.code = 'user_istsi')
          AND (a.key IS NULL OR b.id IS NULL OR a.credits_posted - a.debits_posted <> b.balance
               OR a.debits_pending <> b.reserved_balance)
        """))).all()
    report.expect("token_balances equals the books", [
        f"user {r[0]}: books ({r[1]}, held {r[2]}) vs token_balances ({r[3]}, reserved {r[4]})" for r in rows
    ])
    rows = (await session.execute(text(
        "SELECT r.id FROM ledger_transfers r LEFT JOIN ledger_transfers p ON p.id = r.pending_id "
        "WHERE r.pending_id IS NOT NULL AND (p.id IS NULL OR p.flags & 2 = 0)"))).scalars().all()
    report.expect("each post or void resolves one pending transfer", [f"{t} resolves nothing pending" for t in rows])
    rows = (await session.execute(text(
        """
        SELECT COALESCE(a.bucket, t.bucket), COALESCE(a.v, 0), COALESCE(t.value_sats, 0)
        FROM (SELECT custody_utxo_bucket(state, reorg_held, change_of, payout_signed, block_height) AS bucket, SUM(value_sats) AS v
              FROM custody_utxos GROUP BY 1) a
        FULL OUTER JOIN custody_utxo_totals t ON t.bucket = a.bucket
        WHERE COALESCE(a.v, 0) <> COALESCE(t.value_sats, 0)
        UNION ALL
        SELECT 'ledger:' || code, SUM(credits_posted - debits_posted),
               (SELECT credits_posted - debits_posted FROM ledger_code_totals c WHERE c.code = a.code)
        FROM ledger_accounts a WHERE code = 'pending_receipts' GROUP BY code
        HAVING SUM(credits_posted - debits_posted) IS DISTINCT FROM
               (SELECT credits_posted - debits_posted FROM ledger_code_totals c WHERE c.code = a.code)
        """))).all()
    report.expect("running totals equal their rows", [f"{r[0]}: rows {r[1]} vs totals {r[2]}" for r in rows])
    totals = await custody.totals(session)
    row = (await session.execute(text(
        "SELECT debits_posted - credits_posted - credits_pending FROM ledger_accounts WHERE key = 'custody_btc'"
    ))).scalar_one_or_none() or 0
    report.expect("the UTXO set equals custody_btc", [] if totals.available == row else [
        f"UTXO set {totals.available} sats vs books {row} sats (difference {totals.available - row})"])
    row = (await session.execute(text(
        """
        SELECT (SELECT credits_posted - debits_posted FROM ledger_accounts WHERE key = 'istsi_backing'),
               (SELECT debits_posted - credits_posted FROM ledger_accounts WHERE key = 'istsi_supply')
        """))).one()
    backing, supply = int(row[0] or 0), int(row[1] or 0)
    report.expect("istsi_backing equals istsi_supply", [] if backing == supply else [
        f"backing {backing} sats vs supply {supply} units"])
    rows = (await session.execute(text(
        """
        SELECT p.id, p.amount_sats, COALESCE(SUM(t.amount), 0)
        FROM payouts p
        JOIN payout_items i ON i.payout_id = p.id
        LEFT JOIN ledger_transfers t ON t.id IN ('payout:' || i.operation_id, 'payout-fee:' || i.operation_id)
             AND NOT EXISTS (SELECT 1 FROM ledger_transfers r WHERE r.pending_id = t.id)
        WHERE p.status IN ('signed', 'broadcast') AND i.status = 'batched'
        GROUP BY p.id, p.amount_sats
        HAVING COALESCE(SUM(t.amount), 0) <> p.amount_sats
        """))).all()
    report.expect("each signed payout's withdrawals are pending in the books", [
        f"payout {r[0]}: spends {r[1]} sats for its withdrawals, {r[2]} sats pending" for r in rows])
    rows = (await session.execute(text(
        "SELECT change_of, count(DISTINCT change_version) FROM custody_utxos "
        "WHERE change_of IS NOT NULL AND state IN ('seen', 'confirmed') GROUP BY change_of "
        "HAVING count(DISTINCT change_version) > 1"))).all()
    report.expect("one version's change per payout", [f"payout {r[0]}: change of {r[1]} versions counted" for r in rows])
    return report
