"""``chain_events`` (every contract event seen, once) and ``event_cursors`` (where each monitor is)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, Column, DateTime, Index, String, text
from sqlmodel import Field, SQLModel

from db.models.base import jsonb, timestamptz, varchar


class ChainEvent(SQLModel, table=True):
    __tablename__ = "chain_events"
    __table_args__ = (Index("ix_chain_events_ledger", "ledger"),)

    id: str = Field(sa_column=Column(String, primary_key=True))
    """RPC event id (``%019d-%010d``): unique, sorts in chain order; the dedupe key."""
    contract_id: str = varchar(nullable=False)
    contract: str = varchar(nullable=False)
    """Contract name (``istsi_token`` …)."""
    name: str | None = varchar()
    """First topic when a symbol (``transfer``, ``mint`` …)."""
    ledger: int = Field(sa_column=Column(BigInteger, nullable=False))
    ledger_closed_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    tx_hash: str = varchar(nullable=False)
    topics: list[Any] | None = jsonb()
    value: Any = jsonb()
    engine_originated: bool = Field(default=False, sa_column=Column(Boolean, nullable=False, server_default=text("false")))
    """The transaction is one the engine signed (in ``chain_submissions``)."""
    applied: bool = Field(default=False, sa_column=Column(Boolean, nullable=False, server_default=text("false")))
    """The monitor changed a projection for this event (non-engine transfers, burns, pauses)."""
    created_at: datetime = timestamptz()


class EventCursor(SQLModel, table=True):
    __tablename__ = "event_cursors"

    name: str = Field(sa_column=Column(String, primary_key=True))
    """Monitor name (``event-monitor``)."""
    cursor: str = varchar(nullable=False)
    """getEvents cursor to continue after (an event id or a ledger position)."""
    last_ledger: int = Field(sa_column=Column(BigInteger, nullable=False))
    """Highest ledger fully scanned."""
    latest_ledger: int = Field(sa_column=Column(BigInteger, nullable=False))
    """The RPC's latest ledger at the last page (lag = latest - last)."""
    oldest_ledger: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, server_default=text("0")))
    """The RPC's oldest retained ledger at the last page."""
    updated_at: datetime = timestamptz()
