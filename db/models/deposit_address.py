"""``deposit_addresses``: each user's one BTC deposit address on the custody account's receive chain."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, Column, ForeignKey, Integer, Sequence, String
from sqlalchemy.dialects.postgresql import UUID
from sqlmodel import Field, SQLModel

from db.models.base import timestamptz, uuid_pk

DERIVATION_INDEX_SEQUENCE = Sequence("deposit_address_index_seq", start=0, minvalue=0)
"""Hands out receive-chain indexes (BIP 84 ``/0/i``); a lost insert race leaves a harmless gap."""


class DepositAddress(SQLModel, table=True):
    __tablename__ = "deposit_addresses"
    __table_args__ = (CheckConstraint("derivation_index >= 0", name="ck_deposit_addresses_index_nonnegative"),)

    id: uuid.UUID = uuid_pk()
    user_id: uuid.UUID = Field(
        sa_column=Column(UUID(as_uuid=True), ForeignKey("users.id"), nullable=False, unique=True)
    )
    """The owner; one address per user, never shared."""
    derivation_index: int = Field(sa_column=Column(Integer, nullable=False, unique=True))
    """Index on the receive chain of the custody descriptor (0 <= index < 2**31)."""
    address: str = Field(sa_column=Column(String, nullable=False, unique=True))
    """The address derived at ``derivation_index`` for the configured network."""
    created_at: datetime = timestamptz()
