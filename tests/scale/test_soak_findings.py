"""What the chaos soak found, pinned down deterministically.

The solvency guard read its figures in several statements under READ COMMITTED: a receipt the
block scanner booked between the UTXO totals read and the receipts read counted as owed but not
as held, and a deposit was parked at ``solvency_guard``, short by exactly that receipt (soak seed
99, two workers and two APIs). Here a concurrent transaction books a receipt while the guard's
read is between those two statements (held there by a table lock), and the guard's figures must
be those of one moment.
"""

from __future__ import annotations

import asyncio

import psycopg
import pytest

from activities.deposit_guards import consistent_solvency_view, solvency_view
from tests.fixtures.postgres import migrated_database, sessions_for
from tests.fixtures.waiting import eventually

RECEIPT = 160_000


@pytest.fixture(scope="module")
def books_url():
    with migrated_database("custody_findings") as url:
        yield url


@pytest.fixture
async def sessions(books_url):
    async with sessions_for(books_url) as sessions:
        yield sessions


async def custody_seen_while_a_receipt_commits(books_url: str, read) -> int:
    """Run ``read()`` (returns a SolvencyView) while another transaction books a receipt of
    ``RECEIPT`` sats (held in the set, owed in pending receipts) between its statements; returns
    the custody figure it saw. Cleans the receipt up again."""
    with psycopg.connect(books_url) as scanner:
        scanner.execute("LOCK TABLE ledger_code_totals IN ACCESS EXCLUSIVE MODE")  # the read waits here
        task = asyncio.create_task(read())
        with psycopg.connect(books_url, autocommit=True) as probe:
            def waiting() -> int:
                return probe.execute("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                                     "AND query LIKE '%ledger_code_totals%'").fetchone()[0]

            await eventually(waiting, timeout=10, interval=0.05, what="the read to reach the receipts statement")
        scanner.execute("INSERT INTO custody_utxo_totals (bucket, value_sats, outputs) VALUES ('seen', %s, 1)",
                        (RECEIPT,))
        scanner.execute("INSERT INTO ledger_code_totals (code, debits_pending, debits_posted, credits_pending, "
                        "credits_posted) VALUES ('pending_receipts', 0, 0, 0, %s)", (RECEIPT,))
        scanner.commit()
        view = await task
    with psycopg.connect(books_url, autocommit=True) as conn:
        conn.execute("DELETE FROM custody_utxo_totals WHERE bucket = 'seen'")
        conn.execute("DELETE FROM ledger_code_totals WHERE code = 'pending_receipts'")
    return view.custody_sats


async def test_a_receipt_booked_during_the_guards_read_is_seen_whole_or_not_at_all(books_url, sessions) -> None:
    async def consistent():
        return await consistent_solvency_view(sessions, amount_sats=0)

    assert await custody_seen_while_a_receipt_commits(books_url, consistent) == 0


async def test_the_statement_by_statement_read_it_replaces_is_torn(books_url, sessions) -> None:
    """The failure the soak saw, so the test above is known to catch it."""
    async def read_committed():
        async with sessions() as session:
            return await solvency_view(session, amount_sats=0)

    assert await custody_seen_while_a_receipt_commits(books_url, read_committed) == -RECEIPT
