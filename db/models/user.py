"""``users``: accounts that sign in to the API (seed schema + 0002_identity)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, Column, Index, text
from sqlmodel import Field, SQLModel

from db.models.base import timestamptz, uuid_pk, varchar
from domain.roles import Role

_ROLES = ", ".join(f"'{r.value}'" for r in Role)


class User(SQLModel, table=True):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint(f"role IN ({_ROLES})", name="ck_users_role_known"),
        # One engine account per Stellar account: iSTSi is minted to it and redeemed with its key.
        Index("uq_users_stellar_address", "stellar_address", unique=True),
    )

    id: uuid.UUID = uuid_pk()
    email: str = varchar(nullable=False, unique=True)
    """Normalised (lower-cased) e-mail address; the login name (:func:`domain.emails.normalise_email`)."""
    password_hash: str = varchar(nullable=False)
    """argon2id PHC string; never leaves the database layer."""
    stellar_address: str | None = varchar()
    """The user's Stellar account strkey (``G…``), where iSTSi is minted."""
    role: str = varchar(nullable=False, default="user")
    """One of ``user``, ``operator``, ``compliance_officer``, ``admin`` (:class:`domain.roles.Role`)."""
    is_active: bool = Field(
        default=True, sa_column=Column(Boolean, nullable=False, server_default=text("true"))
    )
    created_at: datetime = timestamptz()
    updated_at: datetime = timestamptz()
    first_name: str | None = varchar()
    last_name: str | None = varchar()
    tokens_valid_after: datetime | None = timestamptz(nullable=True, default_now=False)
    """Access tokens whose ``iat`` (whole seconds) is before this instant are dead; set on
    deactivation and role change. ``None``: no cut-off."""
