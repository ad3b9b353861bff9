"""The first custody scan of a database upgraded to the books: it lists the custody addresses
once, takes the outputs it finds as the opening custody, and books the difference between what
custody holds and what it owes against ``suspense_btc``; afterwards the UTXO set equals the books."""

from __future__ import annotations

import uuid
from pathlib import Path

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
from tests.fixtures.chains import serve_in_thread, stop
from tests.fixtures.postgres import create_database, drop_database

TOKEN = "CBC3UQAWM4BGLS6ETJHZL2FO4ZMPC7ZVV2QOWLV6PZ42XLN65MBTO5BI"


def seed_completed_deposit(conn: psycopg.Connection, *, user: uuid.UUID, email: str, address: str, outpoint: str,
                           sats: int, balance: int) -> None:
    """Rows of a database from before the books (revision 0009): a user with ``address`` as deposit
    address (index 0), ``balance`` units of ``TOKEN`` and a completed deposit of ``sats`` at ``outpoint``."""
    conn.execute("INSERT INTO users (id, email, password_hash) VALUES (%s, %s, 'x')", (user, email))
    conn.execute("INSERT INTO deposit_addresses (user_id, derivation_index, address) VALUES (%s, 0, %s)",
                 (user, address))
    conn.execute("INSERT INTO token_balances (user_id, token_address, balance) VALUES (%s, %s, %s)",
                 (user, TOKEN, balance))
    conn.execute("INSERT INTO operations (user_id, operation_type, status, amount, outpoint, completed_at) "
                 "VALUES (%s, 'deposit', 'completed', %s, %s, now())", (user, sats, outpoint))


@pytest.fixture
def esplora_url():
    from custody_sandbox.esplora import create_app

    served = serve_in_thread(create_app(), ready_path="/blocks/tip/height")
    yield served.url
    stop(served)


async def test_the_first_scan_opens_custody_from_the_chain(esplora_url, temporal_client, tmp_path: Path) -> None:
    name = f"custody_opening_scan_{uuid.uuid4().hex[:8]}"
    url = create_database(name)
    descriptor, master = new_account("regtest")
    wallet = CustodyWallet(descriptor, "regtest")
    settings = load_settings(database={"url": url}, bitcoin={"esplora_url": esplora_url, "custody_descriptor": descriptor})
    try:
        migrate.upgrade(settings, "0009_merge_heads")
        user, address = uuid.uuid4(), wallet.receive_address(0)
        async with httpx.AsyncClient(base_url=esplora_url) as http:
            deposit = (await http.post("/sandbox/faucet", json={"address": address, "sats": 300_000})).json()
            await http.post("/sandbox/faucet", json={"address": address, "sats": 5_000})  # never claimed
            await http.post("/sandbox/mine", json={"blocks": 1})
        with psycopg.connect(settings.database.libpq_url()) as conn:  # a database from before the books
            seed_completed_deposit(conn, user=user, email="o@x.io", address=address,
                                   outpoint=f"{deposit['txid']}:{deposit['vout']}", sats=300_000, balance=300_000)
        migrate.upgrade(settings)
        engine = make_async_engine(settings.database)
        sessions = make_sessionmaker(engine)
        async with EsploraClient(esplora_url) as esplora:
            scanner = DepositDetection(settings=settings, sessions=sessions, esplora=esplora, wallet=wallet)
            await ActivityEnvironment(client=temporal_client).run(scanner.scan_deposit_addresses, ScanInput())
        async with sessions() as session:
            custody = await ledger.account(session, e.CUSTODY)
            suspense = await ledger.account(session, e.SUSPENSE_BTC)
            receipts = await ledger.account(session, e.pending_receipts(user))
            report = await check_books(session)
            opening = (await session.execute(text(
                "SELECT count(*) FROM system_state WHERE key = 'books_opening'"))).scalar_one()
        await engine.dispose()
        # the 5,000 sats nobody deposited are the user's pending receipt, not the operators' suspense
        assert (custody.debits_posted - custody.credits_posted, suspense.credits_posted) == (305_000, 0)
        assert receipts.credits_posted - receipts.debits_posted == 5_000
        assert "the UTXO set equals custody_btc" in report.checked, report.problems
        assert opening == 0
    finally:
        drop_database(name)
