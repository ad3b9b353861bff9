"""``operations``: the projection of one deposit or withdrawal workflow (seed schema + docs/DESIGN.md §4)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, Column, Index, Integer, String, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from db.models.base import jsonb, sats, timestamptz, user_fk, uuid_pk, varchar
from domain.operations import OperationStatus

_STATUSES = ", ".join(f"'{s.value}'" for s in OperationStatus)


class Operation(SQLModel, table=True):
    __tablename__ = "operations"
    __table_args__ = (
        CheckConstraint("amount IS NULL OR amount > 0", name="ck_operations_amount_positive"),
        CheckConstraint(f"status IN ({_STATUSES})", name="ck_operations_status_known"),
        Index("ix_operations_user_created", "user_id", text("created_at DESC")),
        Index("ix_operations_btc_tx_hash", "btc_tx_hash"),
        Index("ix_operations_status_created", "status", "created_at"),
        UniqueConstraint("outpoint", name="uq_operations_outpoint"),
        CheckConstraint("confirmations IS NULL OR confirmations >= 0", name="ck_operations_confirmations_nonnegative"),
    )

    id: uuid.UUID = uuid_pk()
    user_id: uuid.UUID = user_fk()
    operation_type: str = varchar(nullable=False)
    """``deposit`` or ``withdrawal`` (:class:`domain.operations.OperationType`)."""
    status: str = varchar(nullable=False)
    """Coarse state for clients (:class:`domain.operations.OperationStatus`)."""
    amount: int | None = sats(nullable=True, default=None)
    """Amount in satoshis (deposits) or iSTSi base units (withdrawals); always > 0."""
    token_address: str | None = varchar()
    btc_tx_hash: str | None = varchar()
    """Bitcoin txid (64 hex) of the deposit or the payout."""
    stellar_tx_hash: str | None = varchar()
    """Hash of the Soroban transaction that minted or burned."""
    meta: dict[str, Any] | None = jsonb(name="metadata")
    """Free-form details (``metadata`` column; the attribute name avoids SQLAlchemy's own)."""
    created_at: datetime = timestamptz()
    completed_at: datetime | None = timestamptz(nullable=True, default_now=False)
    workflow_id: str | None = varchar()
    """Temporal workflow id (``deposit-<txid>:<vout>``, ``withdrawal-<id>``)."""
    idempotency_key: str | None = Field(
        default=None, sa_column=Column(String, nullable=True, unique=True)
    )
    """Client key or derived business key; the durable duplicate guard."""
    stage: str | None = varchar()
    """Fine state for people (:class:`domain.operations.OperationStage`)."""
    error: str | None = varchar()
    """Stable error code when the operation failed or needs attention."""
    updated_at: datetime = timestamptz()
    outpoint: str | None = varchar()
    """Deposits: ``txid:vout`` (unique while the claim stands; NULL once the chain disproved it)."""
    confirmations: int | None = Field(default=None, sa_column=Column(Integer, nullable=True))
    """Deposits: depth last seen on the canonical chain, in blocks."""
    required_confirmations: int | None = Field(default=None, sa_column=Column(Integer, nullable=True))
    """Deposits: depth needed before the mint, in blocks."""
    waiting_for: str | None = varchar()
    """What the user must do while the operation waits on them (stages ``awaiting_kyc`` and
    ``awaiting_limits``), in words; NULL when it waits on nobody or on an operator."""
    limits_counted_at: datetime | None = timestamptz(nullable=True, default_now=False)
    """When the amount started counting against the user's rolling limits: a deposit from its
    admission by the policy step (NULL until then), a withdrawal from ``created_at`` (NULL)."""
