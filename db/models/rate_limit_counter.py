"""``rate_limit_counters``: one attempt counter per bucket (e.g. an IP or an account) and window.

Kept in Postgres, not in process memory, so every API replica counts against the same limit and a
restart does not reset it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, DateTime, Index, Integer, String
from sqlmodel import Field, SQLModel


class RateLimitCounter(SQLModel, table=True):
    __tablename__ = "rate_limit_counters"
    __table_args__ = (Index("ix_rate_limit_counters_window_started_at", "window_started_at"),)

    bucket: str = Field(sa_column=Column(String, primary_key=True))
    """What is counted, e.g. ``auth:ip:203.0.113.7`` or ``auth:account:<sha256 of e-mail>``."""
    window_started_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    """Database time of the first attempt of the current window."""
    hits: int = Field(sa_column=Column(Integer, nullable=False))
    """Attempts counted since ``window_started_at`` (including refused ones)."""
