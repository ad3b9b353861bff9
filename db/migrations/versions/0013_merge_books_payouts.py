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

from db.migrations.helpers import (
    BUCKET_ARGS_0012,
    BUCKET_ARGS_0013,
    UTXO_BUCKET_FUNCTION_0012,
    utxo_totals_fill,
    utxo_totals_follow_function,
)

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

FOLLOW = utxo_totals_follow_function(BUCKET_ARGS_0013, replace=True)

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


def _recount(bucket_args: Sequence[str]) -> None:
    """Sum the UTXO set into ``custody_utxo_totals`` again, by the buckets ``bucket_args`` make."""
    op.execute("DELETE FROM custody_utxo_totals")
    op.execute(utxo_totals_fill(bucket_args))


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
    _recount(BUCKET_ARGS_0013)


def downgrade() -> None:
    op.execute("DROP TRIGGER custody_utxos_unsign ON custody_utxos")
    op.execute("DROP FUNCTION custody_utxos_unsign()")
    op.execute(UTXO_BUCKET_FUNCTION_0012)
    op.execute(utxo_totals_follow_function(BUCKET_ARGS_0012, replace=True))
    op.execute("DROP FUNCTION custody_utxo_bucket(text, boolean, uuid, boolean, integer)")
    _recount(BUCKET_ARGS_0012)
