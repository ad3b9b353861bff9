"""``revoked_tokens``: access tokens ended early by logout, shared by every API replica."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Column, DateTime, Index, String
from sqlmodel import Field, SQLModel

from db.models.base import timestamptz, user_fk


class RevokedToken(SQLModel, table=True):
    __tablename__ = "revoked_tokens"
    __table_args__ = (Index("ix_revoked_tokens_expires_at", "expires_at"),)

    jti: str = Field(sa_column=Column(String, primary_key=True))
    """The token's ``jti`` claim (a random UUID); the token itself is never stored."""
    user_id: uuid.UUID = user_fk()
    expires_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    """The token's ``exp``: after it the row is useless (the token is dead anyway) and may be purged."""
    revoked_at: datetime = timestamptz()
