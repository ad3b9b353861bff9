"""``users``: accounts that sign in to the API (seed schema)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Boolean, Column, text
from sqlmodel import Field, SQLModel

from db.models.base import timestamptz, uuid_pk, varchar


class User(SQLModel, table=True):
    __tablename__ = "users"

    id: uuid.UUID = uuid_pk()
    email: str = varchar(nullable=False, unique=True)
    """Normalised (lower-case domain) e-mail address; the login name."""
    password_hash: str = varchar(nullable=False)
    """argon2id PHC string; never leaves the database layer."""
    stellar_address: str | None = varchar()
    """The user's Stellar account strkey (``G…``), where iSTSi is minted."""
    role: str = varchar(nullable=False, default="user")
    """One of ``user``, ``operator``, ``compliance_officer``, ``admin``."""
    is_active: bool = Field(
        default=True, sa_column=Column(Boolean, nullable=False, server_default=text("true"))
    )
    created_at: datetime = timestamptz()
    updated_at: datetime = timestamptz()
