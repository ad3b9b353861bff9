"""The custody UTXO set: every output the custody wallet owns, and the addresses it watches.

``custody_addresses`` lists every address of the custody descriptor the engine watches (each
deposit address handed out, each change address used, and a look-ahead window of both
branches), so the block scanner can tell custody outputs from all others with one query.

``custody_utxos`` holds one row per custody output (outpoint) with its state::

    seen (unconfirmed, or its block was orphaned) → confirmed (at block_height)
        → reserved (coin selection of a payout) → spent (at spent_height)
    seen | confirmed → vanished (left the chain; may come back as seen or confirmed)
    seen (change of a payout version) → superseded (a later version replaced it)

Change outputs enter as ``seen`` when their payout version is signed, before broadcast; the
change of the version a later one replaces becomes ``superseded`` (and comes back only if that
version is the one that confirms), so two versions' change are never counted at once. ``held_in``
names the ledger account the output's value is booked against (its receipt's credit side), and
``epoch`` counts reorg round trips so every return books under a fresh transfer id.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import UUID
from sqlmodel import Field, SQLModel

from db.models.base import timestamptz

UTXO_STATES = ("seen", "confirmed", "reserved", "spent", "vanished", "superseded")
_STATES = ", ".join(f"'{s}'" for s in UTXO_STATES)


class CustodyAddress(SQLModel, table=True):
    __tablename__ = "custody_addresses"
    __table_args__ = (
        UniqueConstraint("branch", "derivation_index", name="uq_custody_addresses_path"),
        CheckConstraint("branch IN (0, 1) AND derivation_index >= 0", name="ck_custody_addresses_path"),
    )

    address: str = Field(sa_column=Column(String, primary_key=True))
    branch: int = Field(sa_column=Column(SmallInteger, nullable=False))
    """0 receive (deposit addresses), 1 change (BIP 84)."""
    derivation_index: int = Field(sa_column=Column(Integer, nullable=False))
    user_id: uuid.UUID | None = Field(
        default=None, sa_column=Column(UUID(as_uuid=True), ForeignKey("users.id"), nullable=True)
    )
    """The owner of a deposit address; NULL for change and look-ahead addresses."""
    created_at: datetime = timestamptz()


class CustodyUtxo(SQLModel, table=True):
    __tablename__ = "custody_utxos"
    __table_args__ = (
        CheckConstraint(f"state IN ({_STATES})", name="ck_custody_utxos_state_known"),
        CheckConstraint("value_sats > 0", name="ck_custody_utxos_value_positive"),
        CheckConstraint("state <> 'confirmed' OR block_height IS NOT NULL", name="ck_custody_utxos_confirmed_height"),
        Index("ix_custody_utxos_state", "state"),
        Index("ix_custody_utxos_uncredited", "held_in", postgresql_where=text("held_in <> 'istsi_backing'")),
        Index("ix_custody_utxos_operation", "operation_id"),
        Index("ix_custody_utxos_reserved_by", "reserved_by"),
    )

    outpoint: str = Field(sa_column=Column(String, primary_key=True))
    """``txid:vout``."""
    txid: str = Field(sa_column=Column(String, nullable=False))
    vout: int = Field(sa_column=Column(Integer, nullable=False))
    value_sats: int = Field(sa_column=Column(BigInteger, nullable=False))
    address: str = Field(sa_column=Column(String, ForeignKey("custody_addresses.address"), nullable=False))
    state: str = Field(sa_column=Column(String, nullable=False))
    block_height: int | None = Field(default=None, sa_column=Column(Integer, nullable=True))
    block_hash: str | None = Field(default=None, sa_column=Column(String, nullable=True))
    spent_txid: str | None = Field(default=None, sa_column=Column(String, nullable=True))
    spent_height: int | None = Field(default=None, sa_column=Column(Integer, nullable=True))
    reserved_by: uuid.UUID | None = Field(
        default=None, sa_column=Column(UUID(as_uuid=True), ForeignKey("payouts.id"), nullable=True)
    )
    """The payout whose coin selection took this output."""
    reserved_version: int | None = Field(default=None, sa_column=Column(Integer, nullable=True))
    """The payout version that took it (a bump may add inputs, a CPFP child spends change)."""
    change_of: uuid.UUID | None = Field(
        default=None, sa_column=Column(UUID(as_uuid=True), ForeignKey("payouts.id"), nullable=True)
    )
    """For change outputs: the payout that creates it."""
    change_version: int | None = Field(default=None, sa_column=Column(Integer, nullable=True))
    """For change outputs: the payout version whose transaction creates it."""
    held_in: str | None = Field(default=None, sa_column=Column(String, nullable=True))
    """Ledger account its receipt credited (``deposits_in_flight``, ``pending_receipts:<user>`` …);
    NULL for change (booked with its payout)."""
    operation_id: uuid.UUID | None = Field(default=None, sa_column=Column(UUID(as_uuid=True), nullable=True))
    """The deposit that claims this output, if any."""
    epoch: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default=text("0")))
    seen_at_height: int | None = Field(default=None, sa_column=Column(Integer, nullable=True))
    """Tip height when the row last entered ``seen`` or ``vanished`` (for the reorg window)."""
    payout_signed: bool = Field(default=False, sa_column=Column(Boolean, nullable=False, server_default=text("false")))
    """On a reserved input: its payout is signed (the books hold its amount as a pending credit)."""
    reorg_held: bool = Field(default=False, sa_column=Column(Boolean, nullable=False, server_default=text("false")))
    """A credited deposit's output off the chain: its credit is held (whatever the row's state)."""
    verified_at: datetime | None = timestamptz(nullable=True, default_now=False)
    """Last time reconciliation checked this output against the chain source."""
    created_at: datetime = timestamptz()
    updated_at: datetime = timestamptz()


class CustodyUtxoTotal(SQLModel, table=True):
    """The UTXO set summed per bucket (``custody_utxo_bucket``: the state, with ``<state>:held``,
    ``seen:change`` and ``reserved:signed``), kept by a trigger so totals cost one small read."""

    __tablename__ = "custody_utxo_totals"

    bucket: str = Field(sa_column=Column(String, primary_key=True))
    value_sats: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, server_default=text("0")))
    outputs: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, server_default=text("0")))


class ScannedBlock(SQLModel, table=True):
    """The canonical blocks the scanner has applied (recent ones; the highest is the cursor)."""

    __tablename__ = "scanned_blocks"

    height: int = Field(sa_column=Column(Integer, primary_key=True))
    block_hash: str = Field(sa_column=Column(String, nullable=False))
    scanned_at: datetime = timestamptz()
