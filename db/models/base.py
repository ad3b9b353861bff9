"""Column builders shared by every table: UUID keys, timestamps, satoshi amounts.

Each call returns a fresh ``Field`` (SQLAlchemy columns cannot be shared between tables).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, Column, DateTime, ForeignKey, String, func, text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlmodel import Field


def utcnow() -> datetime:
    return datetime.now(UTC)


def uuid_pk() -> Any:
    """``id UUID PRIMARY KEY DEFAULT gen_random_uuid()`` (also generated client-side)."""
    return Field(
        default_factory=uuid.uuid4,
        sa_column=Column(UUID(as_uuid=True), primary_key=True, server_default=text("gen_random_uuid()")),
    )


def user_fk(*, nullable: bool = False, index: bool = False) -> Any:
    """``user_id UUID REFERENCES users(id)``."""
    return Field(
        default=None if nullable else ...,
        sa_column=Column(UUID(as_uuid=True), ForeignKey("users.id"), nullable=nullable, index=index),
    )


def timestamptz(*, nullable: bool = False, default_now: bool = True) -> Any:
    """``TIMESTAMPTZ``, ``DEFAULT NOW()`` unless ``default_now`` is false."""
    if default_now:
        return Field(
            default_factory=utcnow,
            sa_column=Column(DateTime(timezone=True), nullable=nullable, server_default=func.now()),
        )
    return Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=True))


def jsonb(*, name: str | None = None) -> Any:
    """Nullable ``JSONB`` column (``name`` when the attribute name differs from the column's)."""
    column = Column(name, JSONB, nullable=True) if name else Column(JSONB, nullable=True)
    return Field(default=None, sa_column=column)


def varchar(*, nullable: bool = True, unique: bool = False, default: Any = None) -> Any:
    """Unbounded ``VARCHAR`` as in the seed schema."""
    server_default = text(f"'{default}'") if isinstance(default, str) else None
    return Field(
        default=default,
        sa_column=Column(String, nullable=nullable, unique=unique, server_default=server_default),
    )


def sats(*, nullable: bool = False, default: int | None = 0) -> Any:
    """``BIGINT`` amount in satoshis (or iSTSi base units, which are equal)."""
    server_default = text(str(default)) if default is not None else None
    return Field(
        default=default,
        sa_column=Column(BigInteger, nullable=nullable, server_default=server_default),
    )
