"""``system_state``: engine-wide switches, one row per key (for example ``pause``)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Column, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from db.models.base import timestamptz, user_fk


class SystemState(SQLModel, table=True):
    __tablename__ = "system_state"

    key: str = Field(sa_column=Column(String, primary_key=True))
    value: dict[str, Any] = Field(sa_column=Column(JSONB, nullable=False))
    updated_by: uuid.UUID | None = user_fk(nullable=True)
    """The admin who changed it (``None`` for the engine, e.g. an emergency auto-pause)."""
    updated_at: datetime = timestamptz()
