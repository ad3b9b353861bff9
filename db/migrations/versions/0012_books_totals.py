"""running totals of the books, so the solvency guard's reads stay flat as the book grows

Revision ID: 0012_books_totals
Revises: 0011_merge_books_journeys

* ``custody_utxo_totals``: the UTXO set summed per *bucket* (its state, refined where the guard and
  reconciliation need it: ``<state>:held`` a credited deposit off its block whose credit is held,
  ``seen:change`` a live payout's change, ``reserved:signed`` an input of a signed payout).
* ``custody_utxos.reorg_held``: the row's credit is on hold after a reorg (set by the books' HOLD,
  cleared when it returns or is written off), whatever the row's state. The trigger
  ``custody_utxo_totals_follow`` moves each row's value between buckets on insert, update and
  delete, in the writing transaction.
* ``custody_utxos.payout_signed``: set on a payout's reserved inputs when it is signed.
* ``ledger_code_totals``: the four counters summed per account kind for the per-user kinds whose
  total the guard needs (``pending_receipts``), kept by the trigger ``ledger_code_totals_follow``.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from db.migrations.helpers import (
    BUCKET_ARGS_0012,
    UTXO_BUCKET_FUNCTION_0012,
    ZERO,
    ledger_counters,
    utxo_totals_fill,
    utxo_totals_follow_function,
)

revision: str = "0012_books_totals"
down_revision: str | Sequence[str] | None = "0011_merge_books_journeys"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# custody_utxo_bucket, and the trigger function that keeps custody_utxo_totals by it.
UTXO_TOTALS = UTXO_BUCKET_FUNCTION_0012 + utxo_totals_follow_function(BUCKET_ARGS_0012)

CODE_TOTALS = r"""
CREATE FUNCTION ledger_code_totals_follow() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.code <> 'pending_receipts' THEN
        RETURN NULL;
    END IF;
    INSERT INTO ledger_code_totals (code, debits_pending, debits_posted, credits_pending, credits_posted)
    VALUES (NEW.code,
            NEW.debits_pending - COALESCE(OLD.debits_pending, 0), NEW.debits_posted - COALESCE(OLD.debits_posted, 0),
            NEW.credits_pending - COALESCE(OLD.credits_pending, 0), NEW.credits_posted - COALESCE(OLD.credits_posted, 0))
    ON CONFLICT (code) DO UPDATE SET
        debits_pending = ledger_code_totals.debits_pending + EXCLUDED.debits_pending,
        debits_posted = ledger_code_totals.debits_posted + EXCLUDED.debits_posted,
        credits_pending = ledger_code_totals.credits_pending + EXCLUDED.credits_pending,
        credits_posted = ledger_code_totals.credits_posted + EXCLUDED.credits_posted;
    RETURN NULL;
END
$$;
"""


def upgrade() -> None:
    op.add_column("custody_utxos", sa.Column("payout_signed", sa.Boolean(), server_default=sa.text("false"),
                                             nullable=False))
    op.add_column("custody_utxos", sa.Column("reorg_held", sa.Boolean(), server_default=sa.text("false"),
                                             nullable=False))
    op.execute("UPDATE custody_utxos SET reorg_held = true WHERE held_in = 'istsi_backing' AND state = 'seen'")
    op.execute("UPDATE custody_utxos u SET payout_signed = true FROM payouts p "
               "WHERE u.reserved_by = p.id AND p.status IN ('signed', 'broadcast')")
    op.create_table(
        "custody_utxo_totals",
        sa.Column("bucket", sa.String(), nullable=False),
        sa.Column("value_sats", sa.BigInteger(), server_default=ZERO, nullable=False),
        sa.Column("outputs", sa.BigInteger(), server_default=ZERO, nullable=False),
        sa.PrimaryKeyConstraint("bucket"),
    )
    op.create_table(
        "ledger_code_totals",
        sa.Column("code", sa.String(), nullable=False),
        *ledger_counters(),
        sa.PrimaryKeyConstraint("code"),
    )
    # In-flight items (deposits, receipts, unattributed) are found without reading credited outputs.
    op.create_index("ix_custody_utxos_uncredited", "custody_utxos", ["held_in"], unique=False,
                    postgresql_where=sa.text("held_in <> 'istsi_backing'"))
    op.execute(UTXO_TOTALS)
    op.execute(CODE_TOTALS)
    op.execute(utxo_totals_fill(BUCKET_ARGS_0012))
    op.execute("INSERT INTO ledger_code_totals SELECT code, SUM(debits_pending), SUM(debits_posted), "
               "SUM(credits_pending), SUM(credits_posted) FROM ledger_accounts WHERE code = 'pending_receipts' GROUP BY code")
    op.execute("CREATE TRIGGER custody_utxo_totals_follow AFTER INSERT OR UPDATE OR DELETE ON custody_utxos "
               "FOR EACH ROW EXECUTE FUNCTION custody_utxo_totals_follow()")
    op.execute("CREATE TRIGGER ledger_code_totals_follow AFTER INSERT OR UPDATE ON ledger_accounts "
               "FOR EACH ROW EXECUTE FUNCTION ledger_code_totals_follow()")


def downgrade() -> None:
    op.execute("DROP TRIGGER ledger_code_totals_follow ON ledger_accounts")
    op.execute("DROP TRIGGER custody_utxo_totals_follow ON custody_utxos")
    op.execute("DROP FUNCTION ledger_code_totals_follow()")
    op.execute("DROP FUNCTION custody_utxo_totals_follow()")
    op.execute("DROP FUNCTION custody_utxo_bucket(text, boolean, uuid, boolean)")
    op.drop_index("ix_custody_utxos_uncredited", table_name="custody_utxos")
    op.drop_table("ledger_code_totals")
    op.drop_table("custody_utxo_totals")
    op.drop_column("custody_utxos", "reorg_held")
    op.drop_column("custody_utxos", "payout_signed")
