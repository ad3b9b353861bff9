"""Review of the books (issue 13): the opening scan of a database upgraded from revision 0009
(before the books), in the situations a running engine is upgraded in."""

from __future__ import annotations

import uuid

import httpx
import psycopg
import pytest
from sqlalchemy import text
from temporalio.testing import ActivityEnvironment

from activities.deposit_detection import DepositDetection
from chains.bitcoin.esplora import EsploraClient
from chains.bitcoin.setup import new_account
from chains.bitcoin.wallet import CustodyWallet
from config.settings import load_settings
from contracts.deposits import ScanInput
from db import ledger, migrate
from db.books_check import check_books
from db.session import make_async_engine, make_sessionmaker
from domain import entries as e
from tests.books.test_opening_scan import TOKEN, esplora_url, seed_completed_deposit  # noqa: F401 (fixture)
from tests.fixtures.postgres import create_database, drop_database


async def _upgrade_and_scan(settings, wallet, seed, esplora_base, temporal_client, *, scans: int = 1) -> dict:
    """Seed a 0009 database with ``seed(conn)``, upgrade it, run ``scans`` scans (the first is
    the opening scan); return figures, with the scans' failures under ``errors``."""
    with psycopg.connect(settings.database.libpq_url()) as conn:
        seed(conn)
    migrate.upgrade(settings)
    engine = make_async_engine(settings.database)
    sessions = make_sessionmaker(engine)
    try:
        async with EsploraClient(esplora_base) as esplora:
            scanner = DepositDetection(settings=settings, sessions=sessions, esplora=esplora, wallet=wallet)
            errors = []
            for _ in range(scans):
                try:
                    await ActivityEnvironment(client=temporal_client).run(scanner.scan_deposit_addresses, ScanInput())
                except Exception as exc:  # noqa: BLE001
                    if scans == 1:
                        raise
                    errors.append(f"{type(exc).__name__} {exc}")
        async with sessions() as session:
            suspense = await ledger.account(session, e.SUSPENSE_BTC)
            report = await check_books(session)
            rows = {r[0]: (r[1], r[2], r[3]) for r in (await session.execute(text(
                "SELECT outpoint, state, held_in, payout_signed FROM custody_utxos"))).all()}
        return {"suspense": suspense.credits_posted - suspense.debits_posted, "report": report, "rows": rows,
                "errors": errors}
    finally:
        await engine.dispose()


@pytest.fixture
def old_db(esplora_url):  # noqa: F811
    """Settings of a database migrated to 0009 (before the books) whose chain is ``esplora_url``,
    and its custody wallet."""
    name = f"custody_review_opening_{uuid.uuid4().hex[:8]}"
    url = create_database(name)
    descriptor, _ = new_account("regtest")
    settings = load_settings(database={"url": url},
                             bitcoin={"custody_descriptor": descriptor, "esplora_url": esplora_url})
    migrate.upgrade(settings, "0009_merge_heads")
    yield settings, CustodyWallet(descriptor, "regtest")
    drop_database(name)


async def test_a_whole_custody_with_a_signed_unsent_payout_opens_without_a_difference(
    old_db, esplora_url, temporal_client  # noqa: F811
) -> None:
    """Custody holds exactly what it owes: one 150,000-sat coin backs Alice's 100,000 tokens and
    her burned 50,000 withdrawal, whose payout (49,000 + 1,000 fee, 100,000 change) is signed
    but not broadcast yet. The opening scan inserts the coin as ``reserved`` without
    ``payout_signed`` (so the set counts it whole while the books net the payout out) and never
    enters the payout's change: it books a phantom 50,000-sat surplus into ``suspense_btc``. Once
    the payout settles, the set loses the coin, the change arrives as an *unattributed receipt*
    and the set no longer equals ``custody_btc``."""
    settings, wallet = old_db
    user, address = uuid.uuid4(), wallet.receive_address(0)
    async with httpx.AsyncClient(base_url=esplora_url) as http:
        coin = (await http.post("/sandbox/faucet", json={"address": address, "sats": 150_000})).json()
        await http.post("/sandbox/mine", json={"blocks": 1})
    outpoint = f"{coin['txid']}:{coin['vout']}"

    def seed(conn) -> None:
        wd = uuid.uuid4()
        seed_completed_deposit(conn, user=user, email="a@x.io", address=address, outpoint=outpoint,
                               sats=150_000, balance=100_000)
        conn.execute("INSERT INTO operations (id, user_id, operation_type, status, amount, token_address, "
                     "stellar_tx_hash, metadata) VALUES (%s, %s, 'withdrawal', 'processing', 50000, %s, 'ab', "
                     "'{\"reserved\": false}')", (wd, user, TOKEN))
        conn.execute(
            "INSERT INTO payouts (operation_id, status, recipient_address, amount_sats, fee_sats, fee_rate_sat_vb, "
            "change_sats, change_index, inputs, psbt, txid, tx_hex) VALUES (%s, 'signed', 'bcrt1qrecipient', 49000, "
            "1000, 5, 100000, 0, %s, 'cHNidP8=', %s, '00')",
            (wd, f'[{{"outpoint": "{outpoint}", "amount_sats": 150000, "branch": 0, "derivation_index": 0}}]',
             "cd" * 32))

    figures = await _upgrade_and_scan(settings, wallet, seed, esplora_url, temporal_client)
    assert figures["suspense"] == 0, (
        f"custody was whole, yet the opening booked {figures['suspense']} sats into suspense; set rows {figures['rows']}")


async def test_a_receipt_nobody_claimed_before_the_upgrade_is_the_users_pending_receipt(
    old_db, esplora_url, temporal_client  # noqa: F811
) -> None:
    """The issue's "sub-minimum deposits are stranded" complaint, on an upgraded database: BTC on
    a user's deposit address that no deposit claimed must become the user's pending receipt (shown
    in the API, credited once it adds up). The opening scan books every output no live deposit
    claims as ``istsi_backing`` and the surplus into ``suspense_btc``: the user's BTC stays
    stranded, now under the operators' suspense."""
    settings, wallet = old_db
    user, address = uuid.uuid4(), wallet.receive_address(0)
    async with httpx.AsyncClient(base_url=esplora_url) as http:
        deposit = (await http.post("/sandbox/faucet", json={"address": address, "sats": 300_000})).json()
        stray = (await http.post("/sandbox/faucet", json={"address": address, "sats": 700})).json()  # below 1,000
        await http.post("/sandbox/mine", json={"blocks": 1})

    def seed(conn) -> None:
        seed_completed_deposit(conn, user=user, email="o@x.io", address=address,
                               outpoint=f"{deposit['txid']}:{deposit['vout']}", sats=300_000, balance=300_000)

    figures = await _upgrade_and_scan(settings, wallet, seed, esplora_url, temporal_client)
    state, held_in, _ = figures["rows"][f"{stray['txid']}:{stray['vout']}"]
    assert held_in == e.pending_receipts(user), (
        f"the user's unclaimed 700 sats were booked {held_in} ({state}); suspense holds {figures['suspense']}")


async def test_the_scanner_survives_an_upgrade_with_a_custody_output_in_the_mempool(
    old_db, esplora_url, temporal_client  # noqa: F811
) -> None:
    """At the upgrade a payment to a deposit address is still in the mempool (a user just sent
    it; or a broadcast payout's change). The opening scan books it ``seen`` with ``held_in =
    istsi_backing`` and no operation; the same run's off-block check then decides HOLD (a
    "credited deposit" off its block) and ``CustodyBooks._apply`` asserts on the missing
    operation. Every later run fails the same way: the scanner never advances again, and no
    deposit is detected, no reorg followed, no output confirmed."""
    settings, wallet = old_db
    user, address = uuid.uuid4(), wallet.receive_address(0)
    async with httpx.AsyncClient(base_url=esplora_url) as http:
        deposit = (await http.post("/sandbox/faucet", json={"address": address, "sats": 300_000})).json()
        await http.post("/sandbox/mine", json={"blocks": 1})
        await http.post("/sandbox/faucet", json={"address": address, "sats": 20_000})  # in the mempool

    def seed(conn) -> None:
        seed_completed_deposit(conn, user=user, email="m@x.io", address=address,
                               outpoint=f"{deposit['txid']}:{deposit['vout']}", sats=300_000, balance=300_000)

    figures = await _upgrade_and_scan(settings, wallet, seed, esplora_url, temporal_client, scans=3)
    assert not figures["errors"], f"scans after the upgrade failed: {figures['errors']}"
