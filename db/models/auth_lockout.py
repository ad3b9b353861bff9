"""``auth_lockouts``: consecutive failed sign-ins of one login name and the lockout they caused.

The login name is hashed (``auth:account:<sha256>``), so the table holds no e-mail addresses; a
name that has no account is counted like one that has, so the answers never tell them apart.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Column, DateTime, Index, Integer, String, func, text
from sqlmodel import Field, SQLModel


class AuthLockout(SQLModel, table=True):
    __tablename__ = "auth_lockouts"
    __table_args__ = (
        CheckConstraint("failures >= 0 AND lockouts >= 0", name="ck_auth_lockouts_counts_nonnegative"),
        Index("ix_auth_lockouts_updated_at", "updated_at"),
    )

    bucket: str = Field(sa_column=Column(String, primary_key=True))
    """``auth:account:<sha256 of the normalised login name>``."""
    failures: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default=text("0")))
    """Failed sign-ins since ``first_failure_at`` (reset by a success, a lockout or the window's end)."""
    first_failure_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=True))
    lockouts: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default=text("0")))
    """Lockouts in a row: the next one lasts twice as long (reset by a success or a quiet period)."""
    locked_until: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=True))
    updated_at: datetime = Field(
        sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now())
    )
