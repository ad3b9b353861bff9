"""payouts: batches of withdrawals, payout versions (fee bumps), multisig signatures

Revision ID: 0012_batches_payouts
Revises: 0011_merge_books_journeys

* ``payout_items``: one row per withdrawal, queued for a batch then in exactly one payout.
* ``payout_versions``: every transaction of a payout (version 0, RBF replacements, CPFP
  children), each stored signed before its broadcast.
* ``payout_signatures``: each cosigner key's contribution to a version, and who made it.
* ``payouts`` becomes the batch: the transaction data moves to its versions; ``operation_id``
  stays for the payouts made before batches (one withdrawal each), ``amount_sats`` becomes what
  custody spends (recipient + fee), ``txid`` is no longer unique (versions' txids are).
* ``custody_utxos``: ``reserved_version`` / ``change_version`` name the version that took or
  made an output; state ``superseded`` (the change of a replaced version).

Existing payouts become batches of one: version 0 from the row, one item (``paid`` if confirmed,
``cancelled`` if abandoned, else ``batched``). The ledger's per-withdrawal transfers are
unchanged (an item keeps its operation's ``payout:<op>`` transfers).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from db.migrations.helpers import FALSE, NEW_UUID, NOW, ZERO

revision: str = "0012_batches_payouts"
down_revision: str | Sequence[str] | None = "0011_merge_books_journeys"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_STATES_OLD = "'seen', 'confirmed', 'reserved', 'spent', 'vanished'"
_STATES_NEW = _STATES_OLD + ", 'superseded'"


def upgrade() -> None:
    op.create_table(
        "payout_versions",
        sa.Column("id", sa.UUID(), server_default=NEW_UUID, nullable=False),
        sa.Column("payout_id", sa.UUID(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("txid", sa.String(), nullable=False),
        sa.Column("parent_txid", sa.String(), nullable=False),
        sa.Column("psbt", sa.Text(), nullable=False),
        sa.Column("tx_hex", sa.Text(), nullable=True),
        sa.Column("inputs", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("outputs", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("change_sats", sa.BigInteger(), server_default=ZERO, nullable=False),
        sa.Column("change_index", sa.Integer(), nullable=False),
        sa.Column("change_vout", sa.Integer(), nullable=True),
        sa.Column("fee_sats", sa.BigInteger(), server_default=ZERO, nullable=False),
        sa.Column("fee_rate_sat_vb", sa.BigInteger(), server_default=ZERO, nullable=False),
        sa.Column("vsize_vb", sa.Integer(), nullable=False),
        sa.Column("extra_fee_sats", sa.BigInteger(), server_default=ZERO, nullable=False),
        sa.Column("signatures_required", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.Column("broadcast_height", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.ForeignKeyConstraint(["payout_id"], ["payouts.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("txid"),
        sa.UniqueConstraint("payout_id", "version", name="uq_payout_versions_version"),
        sa.CheckConstraint("status IN ('awaiting_signature', 'signed', 'broadcast', 'replaced', 'confirmed', "
                           "'abandoned')", name="ck_payout_versions_status_known"),
        sa.CheckConstraint("kind IN ('original', 'rbf', 'cpfp')", name="ck_payout_versions_kind_known"),
        sa.CheckConstraint("fee_sats >= 0 AND change_sats >= 0 AND extra_fee_sats >= 0",
                           name="ck_payout_versions_amounts"),
        sa.CheckConstraint("version > 0 OR (kind = 'original' AND extra_fee_sats = 0)", name="ck_payout_versions_first"),
    )
    op.create_table(
        "payout_items",
        sa.Column("id", sa.UUID(), server_default=NEW_UUID, nullable=False),
        sa.Column("operation_id", sa.UUID(), nullable=False),
        sa.Column("payout_id", sa.UUID(), nullable=True),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("recipient_address", sa.String(), nullable=False),
        sa.Column("amount_sats", sa.BigInteger(), server_default=ZERO, nullable=False),
        sa.Column("fee_share_sats", sa.BigInteger(), nullable=True),
        sa.Column("recipient_sats", sa.BigInteger(), nullable=True),
        sa.Column("vout", sa.Integer(), nullable=True),
        sa.Column("asap", sa.Boolean(), server_default=FALSE, nullable=False),
        sa.Column("queued_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.Column("error", sa.String(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.ForeignKeyConstraint(["operation_id"], ["operations.id"]),
        sa.ForeignKeyConstraint(["payout_id"], ["payouts.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("operation_id"),
        sa.CheckConstraint("status IN ('queued', 'batched', 'paid', 'cancelled', 'failed')",
                           name="ck_payout_items_status_known"),
        sa.CheckConstraint("amount_sats > 0", name="ck_payout_items_amount_positive"),
        sa.CheckConstraint("status = 'queued' OR status IN ('cancelled', 'failed') OR payout_id IS NOT NULL",
                           name="ck_payout_items_batched_have_payout"),
    )
    op.create_index("ix_payout_items_queue", "payout_items", ["status", "queued_at"], unique=False)
    op.create_index("ix_payout_items_payout", "payout_items", ["payout_id"], unique=False)
    op.create_table(
        "payout_signatures",
        sa.Column("id", sa.UUID(), server_default=NEW_UUID, nullable=False),
        sa.Column("version_id", sa.UUID(), nullable=False),
        sa.Column("key_index", sa.Integer(), nullable=False),
        sa.Column("fingerprint", sa.String(), nullable=False),
        sa.Column("signer", sa.String(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.ForeignKeyConstraint(["version_id"], ["payout_versions.id"]),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("version_id", "key_index", name="uq_payout_signatures_key"),
        sa.UniqueConstraint("version_id", "user_id", name="uq_payout_signatures_signer"),
        sa.CheckConstraint("signer IN ('hot', 'external')", name="ck_payout_signatures_signer_known"),
    )

    # Existing payouts: version 0 and one item each.
    op.execute("""
        INSERT INTO payout_versions (payout_id, version, kind, status, txid, parent_txid, psbt, tx_hex, inputs, outputs,
                                     change_sats, change_index, change_vout, fee_sats, fee_rate_sat_vb, vsize_vb,
                                     extra_fee_sats, signatures_required, created_at, updated_at)
        SELECT id, 0, 'original', status, txid, txid, psbt, tx_hex, inputs, '[]'::jsonb, change_sats, change_index,
               CASE WHEN change_sats > 0 THEN 1 END, fee_sats, fee_rate_sat_vb,
               GREATEST(fee_sats / GREATEST(fee_rate_sat_vb, 1), 1), 0, 1, created_at, updated_at
        FROM payouts""")
    op.execute("""
        INSERT INTO payout_items (operation_id, payout_id, status, recipient_address, amount_sats, fee_share_sats,
                                  recipient_sats, vout, queued_at, created_at, updated_at)
        SELECT operation_id, id, CASE status WHEN 'confirmed' THEN 'paid' WHEN 'abandoned' THEN 'cancelled'
                                             ELSE 'batched' END,
               recipient_address, amount_sats + fee_sats, fee_sats, amount_sats, 0, created_at, created_at, updated_at
        FROM payouts""")
    op.execute("UPDATE payouts SET amount_sats = amount_sats + fee_sats")
    op.drop_constraint("ck_payouts_amounts", "payouts", type_="check")
    op.create_check_constraint("ck_payouts_amounts", "payouts", "amount_sats > 0 AND fee_sats >= 0")
    op.drop_constraint("payouts_txid_key", "payouts", type_="unique")
    op.alter_column("payouts", "operation_id", existing_type=sa.UUID(), nullable=True)
    op.alter_column("payouts", "txid", existing_type=sa.String(), nullable=True)
    for column in ("recipient_address", "change_sats", "change_index", "inputs", "psbt", "tx_hex"):
        op.drop_column("payouts", column)
    op.add_column("payouts", sa.Column("asap", sa.Boolean(), server_default=FALSE, nullable=False))
    op.add_column("payouts", sa.Column("current_version", sa.Integer(), server_default=ZERO, nullable=False))
    op.add_column("payouts", sa.Column("confirmed_version", sa.Integer(), nullable=True))
    op.add_column("payouts", sa.Column("confirmations", sa.Integer(), server_default=ZERO, nullable=False))
    op.execute("UPDATE payouts SET confirmed_version = 0 WHERE status = 'confirmed'")

    op.add_column("custody_utxos", sa.Column("reserved_version", sa.Integer(), nullable=True))
    op.add_column("custody_utxos", sa.Column("change_version", sa.Integer(), nullable=True))
    op.execute("UPDATE custody_utxos SET reserved_version = 0 WHERE reserved_by IS NOT NULL")
    op.execute("UPDATE custody_utxos SET change_version = 0 WHERE change_of IS NOT NULL")
    op.drop_constraint("ck_custody_utxos_state_known", "custody_utxos", type_="check")
    op.create_check_constraint("ck_custody_utxos_state_known", "custody_utxos", f"state IN ({_STATES_NEW})")


def downgrade() -> None:
    op.execute("UPDATE custody_utxos SET state = 'vanished' WHERE state = 'superseded'")
    op.drop_constraint("ck_custody_utxos_state_known", "custody_utxos", type_="check")
    op.create_check_constraint("ck_custody_utxos_state_known", "custody_utxos", f"state IN ({_STATES_OLD})")
    op.drop_column("custody_utxos", "change_version")
    op.drop_column("custody_utxos", "reserved_version")
    # Back to one payout per withdrawal: only possible for batches of one (refused otherwise).
    op.execute("""
        DO $$ BEGIN
            IF EXISTS (SELECT 1 FROM payout_items GROUP BY payout_id HAVING count(*) > 1)
               OR EXISTS (SELECT 1 FROM payout_versions WHERE version > 0) THEN
                RAISE EXCEPTION 'batched or bumped payouts cannot be downgraded';
            END IF;
        END $$""")
    op.execute("DELETE FROM payout_items WHERE payout_id IS NULL")
    for column in ("confirmations", "confirmed_version", "current_version", "asap"):
        op.drop_column("payouts", column)
    op.add_column("payouts", sa.Column("recipient_address", sa.String(), nullable=True))
    op.add_column("payouts", sa.Column("change_sats", sa.BigInteger(), server_default=ZERO, nullable=False))
    op.add_column("payouts", sa.Column("change_index", sa.Integer(), nullable=True))
    op.add_column("payouts", sa.Column("inputs", postgresql.JSONB(astext_type=sa.Text()), nullable=True))
    op.add_column("payouts", sa.Column("psbt", sa.Text(), nullable=True))
    op.add_column("payouts", sa.Column("tx_hex", sa.Text(), nullable=True))
    op.execute("""
        UPDATE payouts p SET recipient_address = i.recipient_address, operation_id = i.operation_id,
               amount_sats = i.recipient_sats, change_sats = v.change_sats, change_index = v.change_index,
               inputs = v.inputs, psbt = v.psbt, tx_hex = v.tx_hex, txid = v.txid
        FROM payout_items i, payout_versions v WHERE i.payout_id = p.id AND v.payout_id = p.id AND v.version = 0""")
    op.drop_table("payout_signatures")
    op.drop_table("payout_items")
    op.drop_table("payout_versions")
    op.execute("DELETE FROM payouts WHERE psbt IS NULL")
    for column in ("recipient_address", "change_index", "inputs", "psbt", "operation_id", "txid"):
        op.alter_column("payouts", column, nullable=False)
    op.create_unique_constraint("payouts_txid_key", "payouts", ["txid"])
    op.drop_constraint("ck_payouts_amounts", "payouts", type_="check")
    op.create_check_constraint("ck_payouts_amounts", "payouts", "amount_sats > 0 AND fee_sats >= 0 AND change_sats >= 0")
