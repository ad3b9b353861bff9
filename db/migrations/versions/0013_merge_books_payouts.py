"""merge the books' running totals with batched, versioned payouts

Revision ID: 0013_merge_books_payouts
Revises: 0012_books_totals, 0012_batches_payouts

* ``custody_utxo_bucket`` also tells apart a reserved output off a block (``reserved:offblock``,
  ``reserved:signed:offblock``: a payout's unconfirmed change that a CPFP child spends), so the
  set's confirmed total counts only outputs on a block; ``superseded`` change is its own bucket
  and counted nowhere.
* ``payout_signed`` now follows payout versions: true while a version at or after the one that
  reserved the output is signed (``signed``, ``broadcast``, ``replaced``); the trigger
  ``custody_utxos_unsign`` clears it on any row that is no longer reserved.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0013_merge_books_payouts"
down_revision: str | Sequence[str] | None = ("0012_books_totals", "0012_batches_payouts")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BUCKET = r"""
CREATE FUNCTION custody_utxo_bucket(state text, reorg_held boolean, change_of uuid, payout_signed boolean,
                                    block_height integer)
RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT state || CASE
        WHEN reorg_held THEN '\:held'
        WHEN state = 'seen' AND change_of IS NOT NULL THEN '\:change'
        WHEN state = 'reserved' AND payout_signed AND block_height IS NULL THEN '\:signed\:offblock'
        WHEN state = 'reserved' AND payout_signed THEN '\:signed'
        WHEN state = 'reserved' AND block_height IS NULL THEN '\:offblock'
        ELSE '' END
$$;
"""

FOLLOW = r"""
CREATE OR REPLACE FUNCTION custody_utxo_totals_follow() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    old_bucket text;
    new_bucket text;
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        old_bucket := custody_utxo_bucket(OLD.state, OLD.reorg_held, OLD.change_of, OLD.payout_signed, OLD.block_height);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        new_bucket := custody_utxo_bucket(NEW.state, NEW.reorg_held, NEW.change_of, NEW.payout_signed, NEW.block_height);
    END IF;
    IF TG_OP = 'UPDATE' AND old_bucket = new_bucket AND OLD.value_sats = NEW.value_sats THEN
        RETURN NULL;
    END IF;
    IF old_bucket IS NOT NULL THEN
        UPDATE custody_utxo_totals SET value_sats = value_sats - OLD.value_sats, outputs = outputs - 1
            WHERE bucket = old_bucket;
    END IF;
    IF new_bucket IS NOT NULL THEN
        INSERT INTO custody_utxo_totals (bucket, value_sats, outputs) VALUES (new_bucket, NEW.value_sats, 1)
        ON CONFLICT (bucket) DO UPDATE SET value_sats = custody_utxo_totals.value_sats + EXCLUDED.value_sats,
                                           outputs = custody_utxo_totals.outputs + 1;
    END IF;
    RETURN NULL;
END
$$;
"""

UNSIGN = r"""
CREATE FUNCTION custody_utxos_unsign() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.state <> 'reserved' OR NEW.reserved_by IS NULL THEN
        NEW.payout_signed := false;
    END IF;
    RETURN NEW;
END
$$;
"""


def _recount() -> None:
    op.execute("DELETE FROM custody_utxo_totals")
    op.execute("INSERT INTO custody_utxo_totals (bucket, value_sats, outputs) "
               "SELECT custody_utxo_bucket(state, reorg_held, change_of, payout_signed, block_height), "
               "SUM(value_sats), count(*) FROM custody_utxos GROUP BY 1")


def upgrade() -> None:
    op.execute(BUCKET)
    op.execute(FOLLOW)
    op.execute("DROP FUNCTION custody_utxo_bucket(text, boolean, uuid, boolean)")
    op.execute(UNSIGN)
    op.execute("CREATE TRIGGER custody_utxos_unsign BEFORE INSERT OR UPDATE ON custody_utxos "
               "FOR EACH ROW EXECUTE FUNCTION custody_utxos_unsign()")
    op.execute("UPDATE custody_utxos u SET payout_signed = EXISTS (SELECT 1 FROM payout_versions v "
               "WHERE v.payout_id = u.reserved_by AND v.version >= COALESCE(u.reserved_version, 0) "
               "AND v.status IN ('signed', 'broadcast', 'replaced')) WHERE u.reserved_by IS NOT NULL")
    _recount()


def downgrade() -> None:
    op.execute("DROP TRIGGER custody_utxos_unsign ON custody_utxos")
    op.execute("DROP FUNCTION custody_utxos_unsign()")
    op.execute(r"""
CREATE FUNCTION custody_utxo_bucket(state text, reorg_held boolean, change_of uuid, payout_signed boolean)
RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT state || CASE
        WHEN reorg_held THEN '\:held'
        WHEN state = 'seen' AND change_of IS NOT NULL THEN '\:change'
        WHEN state = 'reserved' AND payout_signed THEN '\:signed'
        ELSE '' END
$$;
""")
    op.execute(FOLLOW.replace(", OLD.block_height", "").replace(", NEW.block_height", ""))
    op.execute("DROP FUNCTION custody_utxo_bucket(text, boolean, uuid, boolean, integer)")
    op.execute("DELETE FROM custody_utxo_totals")
    op.execute("INSERT INTO custody_utxo_totals (bucket, value_sats, outputs) "
               "SELECT custody_utxo_bucket(state, reorg_held, change_of, payout_signed), SUM(value_sats), count(*) "
               "FROM custody_utxos GROUP BY 1")
