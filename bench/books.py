"""Books benchmark (issue 13): the solvency guard and reconciliation's reads of the books as the
book grows, next to the per-address chain scan they replaced, measured in the same run.

For each size N (default 1,000 / 10,000 / 100,000) a fresh migrated database gets N users, N
watched deposit addresses and N confirmed custody outputs with their ledger postings (receipt,
credit), and an Esplora sandbox (served over real HTTP) gets the same N addresses, a funded
sample of them. Then:

* ``guard_ms``: the guard's whole transaction (advisory lock, the fixed set of aggregate reads of
  :func:`activities.deposit_guards.solvency_view`, the rule), median of 20;
* ``recon_ms``: reconciliation's snapshot of the books (every figure and in-flight item kind it
  reads from Postgres), median of 5;
* ``scan_ms``: the old way, one ``GET /address/:address/utxo`` per deposit address (8 in flight),
  as the guard did before for every deposit (``bench/per_address_scan.py``), one run.

Not a test. Needs PostgreSQL at ``TEST_PG_URL``. Usage::

    python -m bench.books [--sizes 1000,10000,100000] [--funded-every 100]

Ends with one line per size: ``RESULT addresses=N guard_ms=… recon_ms=… scan_ms=…``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
import uuid

os.environ.setdefault("APP_ENV", "test")

import httpx  # noqa: E402
from embit.networks import NETWORKS  # noqa: E402
from embit.script import Script  # noqa: E402
from sqlalchemy import text  # noqa: E402

from activities.deposit_guards import solvency_view  # noqa: E402
from activities.reconciliation import ITEMS_PER_KIND  # noqa: E402
from bench.per_address_scan import per_address_total  # noqa: E402
from chains.bitcoin.esplora import EsploraClient  # noqa: E402
from config.settings import load_settings  # noqa: E402
from db import ledger, migrate  # noqa: E402
from db.queries import books as figures  # noqa: E402
from db.queries import custody  # noqa: E402
from db.session import make_async_engine, make_sessionmaker  # noqa: E402
from domain.deposits import check_solvency  # noqa: E402
from tests.fixtures.postgres import create_database, drop_database  # noqa: E402

TOKEN = "CBENCHTOKEN"


def addresses(n: int) -> list[str]:
    """N distinct regtest P2WPKH addresses (random key hashes: only the scripts matter here)."""
    return [Script(b"\x00\x14" + os.urandom(20)).address(NETWORKS["regtest"]) for _ in range(n)]


async def seed(sessions, book: list[str]) -> None:
    """N users, each with a watched address, one confirmed 10,000-sat custody output and its
    credited deposit, written in bulk (the postings as the trigger would leave them)."""
    n = len(book)
    async with sessions() as s, s.begin():
        await s.execute(text("CREATE TEMP TABLE book (i int, address text) ON COMMIT DROP"))
        await s.execute(text("INSERT INTO book SELECT ordinality - 1, a FROM unnest(CAST(:a AS text[])) WITH ORDINALITY a"),
                        {"a": book})
        await s.execute(text(
            "INSERT INTO users (id, email, password_hash) SELECT gen_random_uuid(), 'b' || i || '@bench.example', 'x' FROM book"))
        await s.execute(text(
            "INSERT INTO custody_addresses (address, branch, derivation_index, user_id) "
            "SELECT b.address, 0, b.i, u.id FROM book b JOIN users u ON u.email = 'b' || b.i || '@bench.example'"))
        await s.execute(text(
            "INSERT INTO custody_utxos (outpoint, txid, vout, value_sats, address, state, block_height, held_in) "
            "SELECT md5(address) || md5(address || 'x') || ':' || '0', md5(address) || md5(address || 'x'), 0, 10000, address, "
            "'confirmed', 200, 'istsi_backing' FROM book"))
        await s.execute(text(
            "INSERT INTO ledger_accounts (key, ledger, code, flags, user_id, token_address, credits_posted) "
            "SELECT 'user_istsi:' || user_id, 2, 'user_istsi', 2, user_id, :t, 10000 FROM custody_addresses"), {"t": TOKEN})
        await s.execute(text(
            "UPDATE ledger_accounts SET debits_posted = :total WHERE key IN ('istsi_supply', 'custody_btc')"),
            {"total": 10_000 * n})
        await s.execute(text("UPDATE ledger_accounts SET credits_posted = :total WHERE key = 'istsi_backing'"),
                        {"total": 10_000 * n})
    async with sessions() as s:
        await s.execute(text("ANALYZE"))


async def guard_once(sessions) -> float:
    start = time.perf_counter()
    async with sessions() as session, session.begin():
        await ledger.lock_books(session, "solvency")
        check_solvency(await solvency_view(session, amount_sats=0), 0)
    return time.perf_counter() - start


async def recon_once(sessions) -> float:
    start = time.perf_counter()
    async with sessions() as session:
        await session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        await figures.balance_by_code(session)
        await custody.totals(session)
        for read in (figures.deposits_in_flight, figures.pending_receipts, figures.unattributed_receipts,
                     figures.reorg_holds, figures.mints_in_progress, figures.burns_in_progress):
            await read(session, limit=ITEMS_PER_KIND)
        await figures.open_pending_by_code(session, "payout", limit=ITEMS_PER_KIND)
    return time.perf_counter() - start


async def run_size(n: int, funded_every: int) -> tuple[float, float, float]:
    from custody_sandbox.esplora import create_app as create_esplora_app
    from tests.fixtures.chains import serve_in_thread, stop

    name = f"custody_bench_books_{uuid.uuid4().hex[:8]}"
    url = create_database(name)
    served = serve_in_thread(create_esplora_app(), ready_path="/blocks/tip/height")
    try:
        settings = load_settings(database={"url": url})
        migrate.upgrade(settings)
        engine = make_async_engine(settings.database)
        sessions = make_sessionmaker(engine)
        book = addresses(n)
        t0 = time.perf_counter()
        await seed(sessions, book)
        async with httpx.AsyncClient(base_url=served.url) as http:
            for n_paid, address in enumerate(book[::funded_every], start=1):
                (await http.post("/sandbox/faucet", json={"address": address, "sats": 10_000})).raise_for_status()
                if n_paid % 20 == 0:  # Core's limit on chains of unconfirmed transactions
                    (await http.post("/sandbox/mine", json={"blocks": 1})).raise_for_status()
            (await http.post("/sandbox/mine", json={"blocks": 1})).raise_for_status()
        print(f"N={n:,}: seeded in {time.perf_counter() - t0:.1f} s")
        for _ in range(3):
            await guard_once(sessions)
        guard = statistics.median([await guard_once(sessions) for _ in range(20)])
        recon = statistics.median([await recon_once(sessions) for _ in range(5)])
        async with EsploraClient(served.url) as esplora:
            start = time.perf_counter()
            total = await per_address_total(esplora, book)
            scan = time.perf_counter() - start
        print(f"  guard {guard * 1e3:.1f} ms, reconciliation reads {recon * 1e3:.1f} ms, "
              f"per-address scan {scan * 1e3:,.0f} ms ({n:,} requests, {total:,} sats found)")
        await engine.dispose()
        return guard, recon, scan
    finally:
        stop(served)
        drop_database(name)


async def main_async(sizes: list[int], funded_every: int) -> None:
    results = [(n, *await run_size(n, funded_every)) for n in sizes]
    for n, guard, recon, scan in results:
        print(f"RESULT addresses={n} guard_ms={guard * 1e3:.1f} recon_ms={recon * 1e3:.1f} scan_ms={scan * 1e3:.0f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--funded-every", type=int, default=100)
    args = parser.parse_args()
    asyncio.run(main_async([int(s) for s in args.sizes.split(",")], args.funded_every))


if __name__ == "__main__":
    main()
