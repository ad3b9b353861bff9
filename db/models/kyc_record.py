"""``kyc_records``: one row per KYC submission (seed schema)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, Column, ForeignKey, Index, Integer, text
from sqlalchemy.dialects.postgresql import UUID
from sqlmodel import Field, SQLModel

from db.models.base import jsonb, timestamptz, user_fk, uuid_pk, varchar


class KycRecord(SQLModel, table=True):
    __tablename__ = "kyc_records"
    __table_args__ = (
        CheckConstraint("tier BETWEEN 0 AND 4", name="ck_kyc_records_tier_range"),
        Index("ix_kyc_records_user_created", "user_id", "created_at"),
        Index("ix_kyc_records_status_created", "status", "created_at"),
        # At most one pending submission per user; the second one is a 409, even under races.
        Index("uq_kyc_records_one_pending", "user_id", unique=True, postgresql_where=text("status = 'pending'")),
    )

    id: uuid.UUID = uuid_pk()
    user_id: uuid.UUID = user_fk()
    tier: int = Field(sa_column=Column(Integer, nullable=False))
    """Requested tier: 1 Basic, 2 Verified, 3 Enhanced, 4 Institutional."""
    status: str = varchar(nullable=False)
    """``pending``, ``approved``, ``rejected``, ``expired`` or ``revoked``."""
    verification_data: dict[str, Any] | None = jsonb()
    """Encrypted envelope of the submitted documents (never plaintext)."""
    encryption_key_id: str | None = varchar()
    """Id of the key that encrypted ``verification_data`` (keys rotate; old ids stay readable)."""
    jurisdiction: str | None = varchar()
    """ISO 3166-1 alpha-2 country of the customer, registered on chain with the tier."""
    decided_by: uuid.UUID | None = Field(
        default=None, sa_column=Column(UUID(as_uuid=True), ForeignKey("users.id"), nullable=True)
    )
    """The compliance officer who approved or rejected (``None`` for automatic decisions)."""
    decision_reason: str | None = varchar()
    workflow_id: str | None = varchar()
    """``kyc-<user id>-<record id>``."""
    approved_at: datetime | None = timestamptz(nullable=True, default_now=False)
    expires_at: datetime | None = timestamptz(nullable=True, default_now=False)
    created_at: datetime = timestamptz()
    updated_at: datetime = timestamptz()
