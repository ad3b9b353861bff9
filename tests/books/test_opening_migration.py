"""Upgrading a database that had no books (revision 0009): opening entries reproduce today's balances
exactly (holds stay pending under the ids the workflows resolve), and the downgrade removes the
books and leaves the projections as they were."""

from __future__ import annotations

import uuid

import psycopg
import pytest

from config.settings import load_settings
from db import migrate
from tests.fixtures.postgres import create_database, drop_database

TOKEN = "CTOKEN"


@pytest.fixture
def old_db():
    name = f"custody_opening_{uuid.uuid4().hex[:10]}"
    url = create_database(name)
    settings = load_settings(database={"url": url})
    migrate.upgrade(settings, "0009_merge_heads")
    yield settings
    drop_database(name)


def _seed(conn) -> dict[str, uuid.UUID]:
    ids = {k: uuid.uuid4() for k in ("alice", "bob", "held", "burned")}
    for who in ("alice", "bob"):
        conn.execute("INSERT INTO users (id, email, password_hash) VALUES (%s, %s, 'x')", (ids[who], f"{ids[who]}@x.io"))
    conn.execute("INSERT INTO token_balances (user_id, token_address, balance, reserved_balance) VALUES "
                 "(%s, %s, 900000, 200000), (%s, %s, 50000, 0)", (ids["alice"], TOKEN, ids["bob"], TOKEN))
    # Alice: a withdrawal holding 200,000 (not burned yet) and one of 300,000 burned, its payout signed
    conn.execute("INSERT INTO operations (id, user_id, operation_type, status, amount, token_address, metadata) "
                 "VALUES (%s, %s, 'withdrawal', 'processing', 200000, %s, '{\"reserved\": true}')",
                 (ids["held"], ids["alice"], TOKEN))
    conn.execute("INSERT INTO operations (id, user_id, operation_type, status, amount, token_address, stellar_tx_hash, "
                 "metadata) VALUES (%s, %s, 'withdrawal', 'processing', 300000, %s, 'ab', '{\"reserved\": false}')",
                 (ids["burned"], ids["alice"], TOKEN))
    conn.execute("INSERT INTO payouts (operation_id, status, recipient_address, amount_sats, fee_sats, fee_rate_sat_vb, "
                 "change_sats, change_index, inputs, psbt, txid) VALUES (%s, 'broadcast', 'bcrt1qx', 298000, 2000, 2, 0, "
                 "0, '[]', 'psbt', %s)", (ids["burned"], "cd" * 32))
    return ids


def test_opening_entries_reproduce_todays_balances_and_downgrade_works(old_db) -> None:
    url = old_db.database.libpq_url()
    with psycopg.connect(url) as conn:
        ids = _seed(conn)
        before = conn.execute("SELECT user_id, balance, reserved_balance FROM token_balances ORDER BY user_id").fetchall()
    migrate.upgrade(old_db)
    with psycopg.connect(url) as conn:
        after = conn.execute("SELECT user_id, balance, reserved_balance FROM token_balances ORDER BY user_id").fetchall()
        accounts = dict(conn.execute("SELECT key, ARRAY[debits_pending, debits_posted, credits_pending, credits_posted] "
                                     "FROM ledger_accounts").fetchall())
        pending = {r[0] for r in conn.execute(
            "SELECT id FROM ledger_transfers t WHERE flags & 2 <> 0 "
            "AND NOT EXISTS (SELECT 1 FROM ledger_transfers r WHERE r.pending_id = t.id)").fetchall()}
        opening = conn.execute("SELECT value FROM system_state WHERE key = 'books_opening'").fetchone()
    assert after == before
    assert accounts[f"user_istsi:{ids['alice']}"] == [200_000, 0, 0, 900_000]
    assert accounts["istsi_supply"] == [0, 950_000, 200_000, 0]
    assert accounts["istsi_backing"][3] == 950_000 and accounts["withdrawals_unpaid"][3] == 300_000
    assert accounts["custody_btc"] == [0, 1_250_000, 300_000, 0]  # what it owes; the first scan trues it up
    assert pending == {f"withdrawal-hold:{ids['held']}", f"payout:{ids['burned']}", f"payout-fee:{ids['burned']}",
                       f"fee-charge:{ids['burned']}"}
    assert opening == ({"pending": True},)

    migrate.downgrade(old_db, "0009_merge_heads")
    with psycopg.connect(url) as conn:
        tables = {r[0] for r in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'").fetchall()}
        again = conn.execute("SELECT user_id, balance, reserved_balance FROM token_balances ORDER BY user_id").fetchall()
    assert not tables & {"ledger_accounts", "ledger_transfers", "custody_utxos", "custody_addresses"}
    assert again == before
    migrate.upgrade(old_db)  # and up again
