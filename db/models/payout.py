"""``payouts``: the one BTC payout of each withdrawal, stored before it is broadcast.

A row is written when the payout is built (and, with the hot signer, signed) in one
transaction; a retried activity finds it and re-uses the stored transaction, so a withdrawal
never signs a second payout. Inputs of rows that are not yet confirmed or abandoned are kept
out of coin selection, and change indexes come from a sequence so no two payouts share one.
Source: BIP 174 (PSBT), BIP 84 (change on the internal chain).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, Column, ForeignKey, Integer, Sequence, String, Text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlmodel import Field, SQLModel

from db.models.base import sats, timestamptz, uuid_pk, varchar

CHANGE_INDEX_SEQUENCE = Sequence("payout_change_index_seq", start=0, minvalue=0)
"""Hands out internal-chain indexes (BIP 84 ``/1/i``) for change; gaps are harmless."""

PAYOUT_STATUSES = ("awaiting_signature", "signed", "broadcast", "confirmed", "abandoned")
_STATUSES = ", ".join(f"'{s}'" for s in PAYOUT_STATUSES)


class Payout(SQLModel, table=True):
    __tablename__ = "payouts"
    __table_args__ = (
        CheckConstraint(f"status IN ({_STATUSES})", name="ck_payouts_status_known"),
        CheckConstraint("amount_sats > 0 AND fee_sats >= 0 AND change_sats >= 0", name="ck_payouts_amounts"),
    )

    id: uuid.UUID = uuid_pk()
    operation_id: uuid.UUID = Field(
        sa_column=Column(UUID(as_uuid=True), ForeignKey("operations.id"), nullable=False, unique=True)
    )
    """The withdrawal this payout serves; one payout per withdrawal."""
    status: str = varchar(nullable=False)
    """``awaiting_signature`` → ``signed`` → ``broadcast`` → ``confirmed``; ``abandoned`` if never sent."""
    recipient_address: str = varchar(nullable=False)
    amount_sats: int = sats()
    """What the recipient receives, in satoshis (the withdrawal minus the fee)."""
    fee_sats: int = sats()
    """Network fee in satoshis, paid by the user (``domain.withdrawals`` fee rule)."""
    fee_rate_sat_vb: int = sats()
    change_sats: int = sats()
    """Change back to custody in satoshis (0: no change output)."""
    change_index: int = Field(sa_column=Column(Integer, nullable=False))
    """Internal-chain index of the change address (from ``payout_change_index_seq``)."""
    inputs: list[Any] = Field(default_factory=list, sa_column=Column(JSONB, nullable=False))
    """Spent custody outputs: ``[{"outpoint", "amount_sats", "branch", "derivation_index"}]``."""
    psbt: str = Field(sa_column=Column(Text, nullable=False))
    """Base64 PSBT (BIP 174) as built: what an external signer signs."""
    txid: str = Field(sa_column=Column(String, nullable=False, unique=True))
    """Txid (segwit: fixed before signing), the key of every chain lookup."""
    tx_hex: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    """The fully signed transaction, stored before the first broadcast."""
    confirmed_height: int | None = Field(default=None, sa_column=Column(Integer, nullable=True))
    created_at: datetime = timestamptz()
    updated_at: datetime = timestamptz()
