"""the books: double-entry ledger (accounts, transfers, apply trigger) and the custody UTXO set

Revision ID: 0010_books
Revises: 0009_merge_heads

* ``ledger_accounts`` / ``ledger_transfers`` on TigerBeetle's model (``domain/ledger.py``). The
  AFTER INSERT trigger ``ledger_apply_transfer`` applies each new transfer to its accounts
  (pending, post, void or single-phase), under the same rules as ``domain.ledger.Book``;
  CHECK constraints on the accounts enforce the balance flags; the trigger also projects every
  ``user_istsi`` account onto ``token_balances``. ``ledger_transfers_immutable`` refuses UPDATE
  and DELETE. Errors carry the TigerBeetle result name as the message (SQLSTATE ``P0001``).
* ``custody_addresses``, ``custody_utxos``, ``scanned_blocks``: the custody UTXO set and the block
  scanner's position (``db/models/custody_utxo.py``).
* ``reconciliation_items``: the money in flight each reconciliation run explained.
* Opening entries reproduce today's balances exactly: each ``token_balances`` row becomes the
  user's iSTSi (``opening:<user>``), each unresolved withdrawal hold a pending
  ``withdrawal-hold:<op>``, each signed-but-unsettled payout its pending payout transfers. Custody
  opens at what it owes (backing + unpaid withdrawals); the first block scan lists the custody
  UTXOs once and books the difference against ``suspense_btc`` (``system_state`` key
  ``books_opening``). Every deposit address becomes a watched address.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from db.migrations.helpers import NEW_UUID, NOW, ZERO, ledger_counters

revision: str = "0010_books"
down_revision: str | Sequence[str] | None = "0009_merge_heads"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APPLY_TRANSFER = r"""
CREATE FUNCTION ledger_apply_transfer() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    d ledger_accounts%ROWTYPE;
    c ledger_accounts%ROWTYPE;
    p ledger_transfers%ROWTYPE;
    phase integer := NEW.flags & 14;
    held bigint := 0;
    posted bigint := 0;
    acct ledger_accounts%ROWTYPE;
BEGIN
    IF phase NOT IN (0, 2, 4, 8) THEN
        RAISE EXCEPTION 'flags_are_mutually_exclusive';
    END IF;
    IF phase IN (4, 8) AND NEW.pending_id IS NULL THEN
        RAISE EXCEPTION 'pending_id_must_be_set';
    END IF;
    IF phase NOT IN (4, 8) AND NEW.pending_id IS NOT NULL THEN
        RAISE EXCEPTION 'pending_id_must_not_be_set';
    END IF;
    -- Lock both accounts in key order, so two transfers never wait on each other in a circle.
    -- NO KEY UPDATE: compatible with the KEY SHARE locks the foreign keys of the row just inserted
    -- hold on the same accounts.
    PERFORM 1 FROM ledger_accounts WHERE key IN (NEW.debit_account, NEW.credit_account)
        ORDER BY key FOR NO KEY UPDATE;
    SELECT * INTO d FROM ledger_accounts WHERE key = NEW.debit_account;
    SELECT * INTO c FROM ledger_accounts WHERE key = NEW.credit_account;
    IF d.ledger <> NEW.ledger OR c.ledger <> NEW.ledger THEN
        RAISE EXCEPTION 'transfer_must_have_the_same_ledger_as_accounts';
    END IF;
    IF phase IN (4, 8) THEN
        SELECT * INTO p FROM ledger_transfers WHERE id = NEW.pending_id;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'pending_transfer_not_found';
        END IF;
        IF p.flags & 2 = 0 THEN
            RAISE EXCEPTION 'pending_transfer_not_pending';
        END IF;
        IF p.debit_account <> NEW.debit_account OR p.credit_account <> NEW.credit_account THEN
            RAISE EXCEPTION 'pending_transfer_has_different_accounts';
        END IF;
        IF NEW.amount > p.amount THEN
            RAISE EXCEPTION 'exceeds_pending_transfer_amount';
        END IF;
        IF phase = 8 AND NEW.amount <> p.amount THEN
            RAISE EXCEPTION 'pending_transfer_has_different_amount';
        END IF;
        held := p.amount;
        IF phase = 4 THEN
            posted := NEW.amount;
        END IF;
        UPDATE ledger_accounts SET debits_pending = debits_pending - held, debits_posted = debits_posted + posted,
            updated_at = now() WHERE key = NEW.debit_account;
        UPDATE ledger_accounts SET credits_pending = credits_pending - held, credits_posted = credits_posted + posted,
            updated_at = now() WHERE key = NEW.credit_account;
    ELSIF phase = 2 THEN
        UPDATE ledger_accounts SET debits_pending = debits_pending + NEW.amount, updated_at = now()
            WHERE key = NEW.debit_account;
        UPDATE ledger_accounts SET credits_pending = credits_pending + NEW.amount, updated_at = now()
            WHERE key = NEW.credit_account;
    ELSE
        UPDATE ledger_accounts SET debits_posted = debits_posted + NEW.amount, updated_at = now()
            WHERE key = NEW.debit_account;
        UPDATE ledger_accounts SET credits_posted = credits_posted + NEW.amount, updated_at = now()
            WHERE key = NEW.credit_account;
    END IF;
    -- The projection of user iSTSi accounts (token_balances), in the same transaction.
    FOR acct IN SELECT * FROM ledger_accounts WHERE key IN (NEW.debit_account, NEW.credit_account)
            AND code = 'user_istsi' AND user_id IS NOT NULL AND token_address IS NOT NULL LOOP
        INSERT INTO token_balances (id, user_id, token_address, balance, reserved_balance, last_updated)
        VALUES (gen_random_uuid(), acct.user_id, acct.token_address, acct.credits_posted - acct.debits_posted,
                acct.debits_pending, now())
        ON CONFLICT (user_id, token_address) DO UPDATE
            SET balance = EXCLUDED.balance, reserved_balance = EXCLUDED.reserved_balance, last_updated = now();
    END LOOP;
    RETURN NULL;
END
$$;
"""

IMMUTABLE = r"""
CREATE FUNCTION ledger_transfers_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ledger_transfers_are_immutable';
END
$$;
"""

# Opening entries: the books of a database that had none (no-ops on an empty one).
OPENING = [
    # accounts used below
    """INSERT INTO ledger_accounts (key, ledger, code, flags) VALUES
         ('custody_btc', 1, 'custody_btc', 4), ('istsi_backing', 1, 'istsi_backing', 2),
         ('withdrawals_unpaid', 1, 'withdrawals_unpaid', 2), ('suspense_btc', 1, 'suspense_btc', 0),
         ('network_fees', 1, 'network_fees', 0), ('istsi_supply', 2, 'istsi_supply', 4)
       ON CONFLICT DO NOTHING""",
    """INSERT INTO ledger_accounts (key, ledger, code, flags, user_id, token_address)
       SELECT 'user_istsi:' || user_id, 2, 'user_istsi', 2, user_id, token_address FROM token_balances
       ON CONFLICT DO NOTHING""",
    # each user's iSTSi (the burned part of held withdrawals left the balance already)
    """INSERT INTO ledger_transfers (id, debit_account, credit_account, amount, ledger, code)
       SELECT 'opening:user_istsi:' || user_id, 'istsi_supply', 'user_istsi:' || user_id, balance, 2, 'opening'
       FROM token_balances WHERE balance > 0 ORDER BY user_id""",
    # holds of withdrawals not yet burned stay pending under the id the burn or release resolves
    """INSERT INTO ledger_transfers (id, debit_account, credit_account, amount, ledger, code, flags, operation_id)
       SELECT 'withdrawal-hold:' || o.id, 'user_istsi:' || o.user_id, 'istsi_supply', o.amount, 2, 'withdrawal_hold', 2, o.id
       FROM operations o
       WHERE o.operation_type = 'withdrawal' AND o.stellar_tx_hash IS NULL
         AND COALESCE((o.metadata ->> 'reserved')::boolean, false) AND o.status IN ('pending', 'processing')
       ORDER BY o.created_at""",
    # BTC: custody is believed to hold what the iSTSi in issue and the unpaid withdrawals are owed;
    # the first scan trues this up against the UTXOs it finds (books_opening)
    """INSERT INTO ledger_transfers (id, debit_account, credit_account, amount, ledger, code)
       SELECT 'opening:istsi_backing', 'custody_btc', 'istsi_backing', s, 1, 'opening'
       FROM (SELECT SUM(balance) AS s FROM token_balances) t WHERE s > 0""",
    """INSERT INTO ledger_transfers (id, debit_account, credit_account, amount, ledger, code)
       SELECT 'opening:withdrawals_unpaid', 'custody_btc', 'withdrawals_unpaid', s, 1, 'opening'
       FROM (SELECT SUM(amount) AS s FROM operations WHERE operation_type = 'withdrawal'
             AND stellar_tx_hash IS NOT NULL AND status IN ('pending', 'processing')) t WHERE s > 0""",
    # payouts signed but not settled: pending under the ids their settlement posts
    """INSERT INTO ledger_transfers (id, debit_account, credit_account, amount, ledger, code, flags, operation_id)
       SELECT x.id, x.d, x.c, x.amount, 1, x.code, 2, o.id
       FROM payouts p JOIN operations o ON o.id = p.operation_id
       CROSS JOIN LATERAL (VALUES
           ('payout:' || o.id, 'withdrawals_unpaid', 'custody_btc', p.amount_sats, 'payout', 1),
           ('payout-fee:' || o.id, 'network_fees', 'custody_btc', p.fee_sats, 'network_fee', 2),
           ('fee-charge:' || o.id, 'withdrawals_unpaid', 'network_fees', p.fee_sats, 'fee_charge', 3)
       ) AS x(id, d, c, amount, code, n)
       WHERE p.status IN ('signed', 'broadcast') AND x.amount > 0 ORDER BY o.created_at, x.n""",
    """INSERT INTO system_state (key, value, updated_at)
       SELECT 'books_opening', '{"pending": true}'::jsonb, now()
       WHERE EXISTS (SELECT 1 FROM ledger_transfers WHERE code = 'opening')""",
    # every deposit address handed out is watched
    """INSERT INTO custody_addresses (address, branch, derivation_index, user_id)
       SELECT address, 0, derivation_index, user_id FROM deposit_addresses ON CONFLICT DO NOTHING""",
]


def upgrade() -> None:
    op.create_table(
        "ledger_accounts",
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("ledger", sa.SmallInteger(), nullable=False),
        sa.Column("code", sa.String(), nullable=False),
        sa.Column("flags", sa.Integer(), server_default=ZERO, nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=True),
        sa.Column("token_address", sa.String(), nullable=True),
        *ledger_counters(),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("key"),
        sa.CheckConstraint(
            "debits_pending >= 0 AND debits_posted >= 0 AND credits_pending >= 0 AND credits_posted >= 0",
            name="ck_ledger_accounts_counters_nonnegative",
        ),
        sa.CheckConstraint(
            "(flags & 2) = 0 OR debits_pending + debits_posted <= credits_posted",
            name="ck_ledger_accounts_debits_must_not_exceed_credits",
        ),
        sa.CheckConstraint(
            "(flags & 4) = 0 OR credits_pending + credits_posted <= debits_posted",
            name="ck_ledger_accounts_credits_must_not_exceed_debits",
        ),
    )
    op.create_index("ix_ledger_accounts_user", "ledger_accounts", ["user_id"], unique=False)
    op.create_table(
        "ledger_transfers",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("seq", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("debit_account", sa.String(), nullable=False),
        sa.Column("credit_account", sa.String(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("ledger", sa.SmallInteger(), nullable=False),
        sa.Column("code", sa.String(), nullable=False),
        sa.Column("flags", sa.Integer(), server_default=ZERO, nullable=False),
        sa.Column("pending_id", sa.String(), nullable=True),
        sa.Column("operation_id", sa.UUID(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.ForeignKeyConstraint(["debit_account"], ["ledger_accounts.key"]),
        sa.ForeignKeyConstraint(["credit_account"], ["ledger_accounts.key"]),
        sa.ForeignKeyConstraint(["pending_id"], ["ledger_transfers.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("seq"),
        sa.CheckConstraint("amount > 0", name="ck_ledger_transfers_amount_positive"),
        sa.CheckConstraint("debit_account <> credit_account", name="ck_ledger_transfers_accounts_differ"),
    )
    op.create_index("ux_ledger_transfers_resolves", "ledger_transfers", ["pending_id"], unique=True,
                    postgresql_where=sa.text("pending_id IS NOT NULL"))
    op.create_index("ix_ledger_transfers_operation", "ledger_transfers", ["operation_id"], unique=False)
    op.create_index("ix_ledger_transfers_debit_seq", "ledger_transfers", ["debit_account", "seq"], unique=False)
    op.create_index("ix_ledger_transfers_credit_seq", "ledger_transfers", ["credit_account", "seq"], unique=False)
    op.execute(APPLY_TRANSFER)
    op.execute("CREATE TRIGGER ledger_apply_transfer AFTER INSERT ON ledger_transfers "
               "FOR EACH ROW EXECUTE FUNCTION ledger_apply_transfer()")
    op.execute(IMMUTABLE)
    op.execute("CREATE TRIGGER ledger_transfers_immutable BEFORE UPDATE OR DELETE ON ledger_transfers "
               "FOR EACH ROW EXECUTE FUNCTION ledger_transfers_immutable()")

    op.create_table(
        "custody_addresses",
        sa.Column("address", sa.String(), nullable=False),
        sa.Column("branch", sa.SmallInteger(), nullable=False),
        sa.Column("derivation_index", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("address"),
        sa.UniqueConstraint("branch", "derivation_index", name="uq_custody_addresses_path"),
        sa.CheckConstraint("branch IN (0, 1) AND derivation_index >= 0", name="ck_custody_addresses_path"),
    )
    op.create_table(
        "custody_utxos",
        sa.Column("outpoint", sa.String(), nullable=False),
        sa.Column("txid", sa.String(), nullable=False),
        sa.Column("vout", sa.Integer(), nullable=False),
        sa.Column("value_sats", sa.BigInteger(), nullable=False),
        sa.Column("address", sa.String(), nullable=False),
        sa.Column("state", sa.String(), nullable=False),
        sa.Column("block_height", sa.Integer(), nullable=True),
        sa.Column("block_hash", sa.String(), nullable=True),
        sa.Column("spent_txid", sa.String(), nullable=True),
        sa.Column("spent_height", sa.Integer(), nullable=True),
        sa.Column("reserved_by", sa.UUID(), nullable=True),
        sa.Column("change_of", sa.UUID(), nullable=True),
        sa.Column("held_in", sa.String(), nullable=True),
        sa.Column("operation_id", sa.UUID(), nullable=True),
        sa.Column("epoch", sa.Integer(), server_default=ZERO, nullable=False),
        sa.Column("seen_at_height", sa.Integer(), nullable=True),
        sa.Column("verified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.ForeignKeyConstraint(["address"], ["custody_addresses.address"]),
        sa.ForeignKeyConstraint(["reserved_by"], ["payouts.id"]),
        sa.ForeignKeyConstraint(["change_of"], ["payouts.id"]),
        sa.PrimaryKeyConstraint("outpoint"),
        sa.CheckConstraint("state IN ('seen', 'confirmed', 'reserved', 'spent', 'vanished')",
                           name="ck_custody_utxos_state_known"),
        sa.CheckConstraint("value_sats > 0", name="ck_custody_utxos_value_positive"),
        sa.CheckConstraint("state <> 'confirmed' OR block_height IS NOT NULL", name="ck_custody_utxos_confirmed_height"),
    )
    op.create_index("ix_custody_utxos_state", "custody_utxos", ["state"], unique=False)
    op.create_index("ix_custody_utxos_operation", "custody_utxos", ["operation_id"], unique=False)
    op.create_index("ix_custody_utxos_reserved_by", "custody_utxos", ["reserved_by"], unique=False)
    op.create_table(
        "scanned_blocks",
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("block_hash", sa.String(), nullable=False),
        sa.Column("scanned_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.PrimaryKeyConstraint("height"),
    )
    op.create_table(
        "reconciliation_items",
        sa.Column("id", sa.UUID(), server_default=NEW_UUID, nullable=False),
        sa.Column("run_id", sa.UUID(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("reference", sa.String(), nullable=False),
        sa.Column("amount_sats", sa.BigInteger(), server_default=ZERO, nullable=False),
        sa.Column("detail", sa.String(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["reconciliation_runs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_reconciliation_items_run_id", "reconciliation_items", ["run_id"], unique=False)
    op.add_column("reserve_proofs", sa.Column("journal_seq", sa.BigInteger(), nullable=True))
    op.add_column("reserve_proofs", sa.Column("journal_transfers", sa.BigInteger(), nullable=True))
    for statement in OPENING:
        op.execute(statement)


def downgrade() -> None:
    op.drop_column("reserve_proofs", "journal_transfers")
    op.drop_column("reserve_proofs", "journal_seq")
    op.drop_index("ix_reconciliation_items_run_id", table_name="reconciliation_items")
    op.drop_table("reconciliation_items")
    op.drop_table("scanned_blocks")
    op.drop_table("custody_utxos")
    op.drop_table("custody_addresses")
    op.execute("DELETE FROM system_state WHERE key = 'books_opening'")
    op.drop_table("ledger_transfers")
    op.execute("DROP FUNCTION ledger_transfers_immutable()")
    op.execute("DROP FUNCTION ledger_apply_transfer()")
    op.drop_table("ledger_accounts")
