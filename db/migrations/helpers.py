"""DDL that more than one migration emits: server defaults, the ledger's four counters, and the SQL
of the triggers that later revisions redefine (and their downgrades restore).

A migration is history: what a revision ran must stay what it ran, so nothing here may change its
output for the arguments a revision already passes. A new revision that needs other DDL adds an
argument (defaulting to today's output) or a new function, never an edit of an existing text.
``tests/db/test_schema.py`` migrates up, down and up again; a schema dump before and after any
change here must be identical.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

NOW = sa.text("now()")
NEW_UUID = sa.text("gen_random_uuid()")
ZERO = sa.text("0")
FALSE = sa.text("false")


def ledger_counters() -> list[sa.Column]:
    """The four ``BIGINT NOT NULL DEFAULT 0`` counters of a ledger account (in satoshis or token
    units), in TigerBeetle's order: ``debits_pending``, ``debits_posted``, ``credits_pending``,
    ``credits_posted``. Fresh columns on each call (a column belongs to one table)."""
    return [
        sa.Column(name, sa.BigInteger(), server_default=ZERO, nullable=False)
        for name in ("debits_pending", "debits_posted", "credits_pending", "credits_posted")
    ]


# What ``notify_operation_update`` has watched since 0006_deposits, and what its payload carries
# (``updated_at`` always last).
_NOTIFY_WATCHED = ("status", "stage", "confirmations", "error")
_NOTIFY_PAYLOAD = (
    "id", "user_id", "operation_type", "status", "stage", "amount", "confirmations", "required_confirmations",
    "btc_tx_hash", "stellar_tx_hash", "error",
)


def operation_notify_function(*, replace: bool = False, added: Sequence[str] = ()) -> str:
    """``CREATE [OR REPLACE] FUNCTION notify_operation_update()``: the trigger function that NOTIFYs
    ``operation_updates`` with a JSON row when an operation is inserted or a watched column changes.

    ``added``: columns watched and carried beyond 0006_deposits' (``("waiting_for",)`` since
    0010_journeys), appended in that order. ``replace``: ``CREATE OR REPLACE`` (a later revision
    redefining it) instead of ``CREATE``.
    """
    watched = "\n".join(f"       OR NEW.{c} IS DISTINCT FROM OLD.{c}" for c in (*_NOTIFY_WATCHED, *added))
    payload = ",\n".join(f"            '{c}', NEW.{c}" for c in (*_NOTIFY_PAYLOAD, *added, "updated_at"))
    return f"""
{_create(replace)} notify_operation_update() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'INSERT'
{watched} THEN
        PERFORM pg_notify('operation_updates', json_build_object(
{payload}
        )::text);
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql
"""


# The arguments of ``custody_utxo_bucket`` (columns of ``custody_utxos``) as 0012_books_totals
# made it; 0013_merge_books_payouts adds ``block_height``.
BUCKET_ARGS_0012 = ("state", "reorg_held", "change_of", "payout_signed")
BUCKET_ARGS_0013 = (*BUCKET_ARGS_0012, "block_height")

# ``custody_utxo_bucket`` as 0012_books_totals made it (0013_merge_books_payouts' downgrade
# restores it).
UTXO_BUCKET_FUNCTION_0012 = r"""
CREATE FUNCTION custody_utxo_bucket(state text, reorg_held boolean, change_of uuid, payout_signed boolean)
RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT state || CASE
        WHEN reorg_held THEN '\:held'
        WHEN state = 'seen' AND change_of IS NOT NULL THEN '\:change'
        WHEN state = 'reserved' AND payout_signed THEN '\:signed'
        ELSE '' END
$$;
"""


def _bucket_of(row: str, bucket_args: Sequence[str]) -> str:
    """``custody_utxo_bucket(<row>.<arg>, …)``; ``row`` empty: the bare column names."""
    prefix = f"{row}." if row else ""
    return "custody_utxo_bucket(" + ", ".join(prefix + arg for arg in bucket_args) + ")"


def utxo_totals_follow_function(bucket_args: Sequence[str], *, replace: bool = False) -> str:
    """``CREATE [OR REPLACE] FUNCTION custody_utxo_totals_follow()``: the trigger function that moves
    a ``custody_utxos`` row's ``value_sats`` (and one output) between the buckets of
    ``custody_utxo_totals`` on insert, update and delete; ``bucket_args`` as the revision's
    ``custody_utxo_bucket`` takes them (:data:`BUCKET_ARGS_0012`, :data:`BUCKET_ARGS_0013`)."""
    return f"""
{_create(replace)} custody_utxo_totals_follow() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    old_bucket text;
    new_bucket text;
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        old_bucket := {_bucket_of("OLD", bucket_args)};
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        new_bucket := {_bucket_of("NEW", bucket_args)};
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


def utxo_totals_fill(bucket_args: Sequence[str]) -> str:
    """The ``INSERT … SELECT`` that sums ``custody_utxos`` into ``custody_utxo_totals`` per bucket
    (into an empty table: run it after creating or emptying the totals)."""
    return ("INSERT INTO custody_utxo_totals (bucket, value_sats, outputs) "
            f"SELECT {_bucket_of('', bucket_args)}, SUM(value_sats), count(*) FROM custody_utxos GROUP BY 1")


def _create(replace: bool) -> str:
    return "CREATE OR REPLACE FUNCTION" if replace else "CREATE FUNCTION"
