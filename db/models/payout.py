"""Payouts: one Bitcoin payout pays a batch of withdrawals; bumps add versions of it.

* ``payout_items``: one row per withdrawal (``operation_id`` UNIQUE): queued for a batch, then in
  exactly one payout (``payout_id``) with its output, its fee share and what its recipient gets.
  A payout that was never signed can be abandoned; its items go back to the queue, so nobody is
  dropped and nobody is in two signed payouts.
* ``payouts``: one row per batch transaction and its fate (``current_version``, the version
  that confirmed). Its coins and change in the UTXO set point here (``reserved_by``,
  ``change_of``).
* ``payout_versions``: every transaction of a payout (version 0 as first built, then each RBF
  replacement or CPFP child), stored signed *before* its broadcast; every version conflicts with
  every other, so at most one confirms.
* ``payout_signatures``: who contributed which cosigner key's signatures to a version (the hot
  signer or an authenticated operator), one row per key and at most one key per operator.

Change indexes come from a sequence so no two payouts share one. Amounts are satoshis.
Source: BIP 174 (PSBT), BIP 125 (replacement), BIP 84/48 (change on the internal chain).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    Sequence,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlmodel import Field, SQLModel

from db.models.base import sats, timestamptz, uuid_pk, varchar

CHANGE_INDEX_SEQUENCE = Sequence("payout_change_index_seq", start=0, minvalue=0)
"""Hands out internal-chain indexes (``/1/i``) for change; gaps are harmless."""

PAYOUT_STATUSES = ("awaiting_signature", "signed", "broadcast", "confirmed", "abandoned")
VERSION_STATUSES = ("awaiting_signature", "signed", "broadcast", "replaced", "confirmed", "abandoned")
VERSION_KINDS = ("original", "rbf", "cpfp")
ITEM_STATUSES = ("queued", "batched", "paid", "cancelled", "failed")


def _in(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{v}'" for v in values)


class Payout(SQLModel, table=True):
    __tablename__ = "payouts"
    __table_args__ = (
        CheckConstraint(f"status IN ({_in(PAYOUT_STATUSES)})", name="ck_payouts_status_known"),
        CheckConstraint("amount_sats > 0 AND fee_sats >= 0", name="ck_payouts_amounts"),
    )

    id: uuid.UUID = uuid_pk()
    status: str = varchar(nullable=False)
    """``awaiting_signature`` → ``signed`` → ``broadcast`` → ``confirmed``; ``abandoned`` if never signed."""
    amount_sats: int = sats()
    """What custody spends for the withdrawals of the batch (the sum of their amounts), satoshis."""
    fee_sats: int = sats()
    """Network fee of version 0, satoshis: the sum of the withdrawals' fee shares (users pay it)."""
    fee_rate_sat_vb: int = sats()
    """Fee rate of version 0 (sat/vB); the fee shares were computed at it."""
    asap: bool = Field(default=False, sa_column=Column(Boolean, nullable=False, server_default=text("false")))
    """A payout of one withdrawal that asked to be paid at once (it bears the whole fee)."""
    current_version: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default=text("0")))
    """The latest signed version (the one broadcast and expected to confirm)."""
    confirmed_version: int | None = Field(default=None, sa_column=Column(Integer, nullable=True))
    """The version the chain confirmed (set when the payout settles)."""
    txid: str | None = Field(default=None, sa_column=Column(String, nullable=True))
    """The transaction paying the recipients: of the current version, then of the confirmed one."""
    confirmations: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default=text("0")))
    """Depth of the confirmed version as last seen (0 in the mempool)."""
    confirmed_height: int | None = Field(default=None, sa_column=Column(Integer, nullable=True))
    operation_id: uuid.UUID | None = Field(
        default=None, sa_column=Column(UUID(as_uuid=True), ForeignKey("operations.id"), nullable=True, unique=True)
    )
    """Before batches, the one withdrawal a payout served (NULL for batches)."""
    created_at: datetime = timestamptz()
    updated_at: datetime = timestamptz()


class PayoutVersion(SQLModel, table=True):
    __tablename__ = "payout_versions"
    __table_args__ = (
        UniqueConstraint("payout_id", "version", name="uq_payout_versions_version"),
        CheckConstraint(f"status IN ({_in(VERSION_STATUSES)})", name="ck_payout_versions_status_known"),
        CheckConstraint(f"kind IN ({_in(VERSION_KINDS)})", name="ck_payout_versions_kind_known"),
        CheckConstraint("fee_sats >= 0 AND change_sats >= 0 AND extra_fee_sats >= 0",
                        name="ck_payout_versions_amounts"),
        CheckConstraint("version > 0 OR (kind = 'original' AND extra_fee_sats = 0)", name="ck_payout_versions_first"),
    )

    id: uuid.UUID = uuid_pk()
    payout_id: uuid.UUID = Field(sa_column=Column(UUID(as_uuid=True), ForeignKey("payouts.id"), nullable=False))
    version: int = Field(sa_column=Column(Integer, nullable=False))
    """0 as first built; each bump adds one."""
    kind: str = varchar(nullable=False)
    """``original``, ``rbf`` (a replacement of the parent) or ``cpfp`` (a child of the parent)."""
    status: str = varchar(nullable=False)
    """``awaiting_signature`` → ``signed`` → ``broadcast`` → ``confirmed`` | ``replaced``; ``abandoned``."""
    txid: str = Field(sa_column=Column(String, nullable=False, unique=True))
    """The transaction this version adds (the parent, or the CPFP child)."""
    parent_txid: str = Field(sa_column=Column(String, nullable=False))
    """The transaction paying the recipients (``txid`` itself unless ``kind`` is ``cpfp``)."""
    psbt: str = Field(sa_column=Column(Text, nullable=False))
    """Base64 PSBT (BIP 174) with the signatures collected so far."""
    tx_hex: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    """The fully signed transaction, stored once the quorum signed and before the first broadcast."""
    inputs: list[Any] = Field(default_factory=list, sa_column=Column(JSONB, nullable=False))
    """Spent outputs: ``[{"outpoint", "amount_sats", "branch", "derivation_index"}]``."""
    outputs: list[Any] = Field(default_factory=list, sa_column=Column(JSONB, nullable=False))
    """``[{"script_pubkey": hex, "amount_sats", "item_id" | null}]`` in transaction order."""
    change_sats: int = sats()
    change_index: int = Field(sa_column=Column(Integer, nullable=False))
    """Internal-chain index of the change (``payout_change_index_seq``)."""
    change_vout: int | None = Field(default=None, sa_column=Column(Integer, nullable=True))
    fee_sats: int = sats()
    """Fee of this version's own transaction, satoshis."""
    fee_rate_sat_vb: int = sats()
    """Fee rate of the version (of the package parent + child for ``cpfp``), sat/vB."""
    vsize_vb: int = Field(sa_column=Column(Integer, nullable=False))
    extra_fee_sats: int = sats()
    """What this version adds to the fee of the version before it (the custodian's, fee reserve)."""
    signatures_required: int = Field(default=1, sa_column=Column(Integer, nullable=False, server_default=text("1")))
    broadcast_height: int | None = Field(default=None, sa_column=Column(Integer, nullable=True))
    """Chain tip when the version was first broadcast (the bump timer counts from it)."""
    created_at: datetime = timestamptz()
    updated_at: datetime = timestamptz()


class PayoutItem(SQLModel, table=True):
    __tablename__ = "payout_items"
    __table_args__ = (
        CheckConstraint(f"status IN ({_in(ITEM_STATUSES)})", name="ck_payout_items_status_known"),
        CheckConstraint("amount_sats > 0", name="ck_payout_items_amount_positive"),
        CheckConstraint("status = 'queued' OR status IN ('cancelled', 'failed') OR payout_id IS NOT NULL",
                        name="ck_payout_items_batched_have_payout"),
        Index("ix_payout_items_queue", "status", "queued_at"),
        Index("ix_payout_items_payout", "payout_id"),
    )

    id: uuid.UUID = uuid_pk()
    operation_id: uuid.UUID = Field(
        sa_column=Column(UUID(as_uuid=True), ForeignKey("operations.id"), nullable=False, unique=True)
    )
    """The withdrawal; one item per withdrawal."""
    payout_id: uuid.UUID | None = Field(
        default=None, sa_column=Column(UUID(as_uuid=True), ForeignKey("payouts.id"), nullable=True)
    )
    status: str = varchar(nullable=False)
    """``queued`` → ``batched`` → ``paid``; ``cancelled`` (before its batch was signed), ``failed``."""
    recipient_address: str = varchar(nullable=False)
    amount_sats: int = sats()
    """The withdrawn amount: what custody spends for this withdrawal, satoshis."""
    fee_share_sats: int | None = sats(nullable=True, default=None)
    """This withdrawal's share of the batch fee (``domain.payout_batches.fee_shares``)."""
    recipient_sats: int | None = sats(nullable=True, default=None)
    """What the recipient receives: ``amount_sats - fee_share_sats``."""
    vout: int | None = Field(default=None, sa_column=Column(Integer, nullable=True))
    asap: bool = Field(default=False, sa_column=Column(Boolean, nullable=False, server_default=text("false")))
    queued_at: datetime = timestamptz()
    error: str | None = varchar()
    created_at: datetime = timestamptz()
    updated_at: datetime = timestamptz()


class PayoutSignature(SQLModel, table=True):
    __tablename__ = "payout_signatures"
    __table_args__ = (
        UniqueConstraint("version_id", "key_index", name="uq_payout_signatures_key"),
        UniqueConstraint("version_id", "user_id", name="uq_payout_signatures_signer"),
        CheckConstraint("signer IN ('hot', 'external')", name="ck_payout_signatures_signer_known"),
    )

    id: uuid.UUID = uuid_pk()
    version_id: uuid.UUID = Field(
        sa_column=Column(UUID(as_uuid=True), ForeignKey("payout_versions.id"), nullable=False)
    )
    key_index: int = Field(sa_column=Column(Integer, nullable=False))
    """Which key of the descriptor (its position in ``bitcoin.custody_descriptor``)."""
    fingerprint: str = varchar(nullable=False)
    """Master fingerprint of that key (hex)."""
    signer: str = varchar(nullable=False)
    """``hot`` (the engine's key) or ``external`` (an operator through the admin API)."""
    user_id: uuid.UUID | None = Field(
        default=None, sa_column=Column(UUID(as_uuid=True), ForeignKey("users.id"), nullable=True)
    )
    """The authenticated operator who submitted it (NULL for the hot signer)."""
    created_at: datetime = timestamptz()
