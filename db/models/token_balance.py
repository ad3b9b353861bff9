"""``token_balances``: the engine's projection of each user's iSTSi holdings (seed schema)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, UniqueConstraint
from sqlmodel import SQLModel

from db.models.base import sats, timestamptz, user_fk, uuid_pk, varchar


class TokenBalance(SQLModel, table=True):
    __tablename__ = "token_balances"
    __table_args__ = (
        UniqueConstraint("user_id", "token_address", name="uq_token_balances_user_token"),
        CheckConstraint("balance >= 0", name="ck_token_balances_balance_nonnegative"),
        CheckConstraint("reserved_balance >= 0", name="ck_token_balances_reserved_nonnegative"),
        CheckConstraint("reserved_balance <= balance", name="ck_token_balances_reserved_le_balance"),
    )

    id: uuid.UUID = uuid_pk()
    user_id: uuid.UUID = user_fk()
    token_address: str = varchar(nullable=False)
    """Soroban contract strkey (``C…``) of the token."""
    balance: int = sats()
    """Credited amount in base units (1 iSTSi base unit = 1 satoshi)."""
    reserved_balance: int = sats()
    """Part of ``balance`` held for in-flight withdrawals, in base units."""
    last_updated: datetime = timestamptz()
    created_at: datetime = timestamptz()
