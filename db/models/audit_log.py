"""``audit_logs``: who did what to which resource, written in the same transaction (seed schema)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Column, Index, Text, text
from sqlalchemy.dialects.postgresql import INET
from sqlmodel import Field, SQLModel

from db.models.base import jsonb, timestamptz, user_fk, uuid_pk, varchar


class AuditLog(SQLModel, table=True):
    __tablename__ = "audit_logs"
    __table_args__ = (
        Index("ix_audit_logs_user_created", "user_id", text("created_at DESC")),
        Index("ix_audit_logs_resource", "resource_type", "resource_id", text("created_at DESC")),
        Index("ix_audit_logs_action_created", "action", text("created_at DESC")),
        Index("ix_audit_logs_created", text("created_at DESC")),
    )

    id: uuid.UUID = uuid_pk()
    user_id: uuid.UUID | None = user_fk(nullable=True)
    """The actor (``None`` for the engine itself or an anonymous caller)."""
    action: str = varchar(nullable=False)
    """Dotted verb, for example ``auth.login``, ``deposit.minted``."""
    resource_type: str = varchar(nullable=False)
    resource_id: str | None = varchar()
    old_values: dict[str, Any] | None = jsonb()
    """Previous values, secrets redacted."""
    new_values: dict[str, Any] | None = jsonb()
    """New values, secrets redacted."""
    ip_address: str | None = Field(default=None, sa_column=Column(INET, nullable=True))
    user_agent: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_at: datetime = timestamptz()
