"""``chain_submissions``: every Soroban transaction the engine signs, stored before it is sent.

One row per business step (``idempotency_key`` such as ``mint:<operation id>``). A retried
activity finds the row and re-drives the *stored* envelope instead of signing a second
transaction; ``succeeded`` rows return their stored result.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Column, String, Text
from sqlmodel import Field, SQLModel

from db.models.base import jsonb, timestamptz, uuid_pk, varchar


class ChainSubmission(SQLModel, table=True):
    __tablename__ = "chain_submissions"

    id: uuid.UUID = uuid_pk()
    idempotency_key: str = Field(sa_column=Column(String, nullable=False, unique=True))
    contract: str = varchar(nullable=False)
    """Contract name from docs/CONTRACTS.md (``integration_router`` …)."""
    function: str = varchar(nullable=False)
    tx_hash: str | None = varchar()
    """Hex hash of the latest signed envelope."""
    envelope_xdr: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    sequence: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    max_time: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    """Time bound of the envelope, unix seconds."""
    source_account: str | None = varchar()
    """Transaction source of the envelope: a channel account ``G…`` (or the operator)."""
    status: str = varchar(nullable=False, default="signed")
    """``signed`` (may or may not be on chain), ``succeeded`` or ``failed``."""
    result: dict[str, Any] | None = jsonb()
    """Return value, ledger and events of a succeeded transaction; error code of a failed one."""
    created_at: datetime = timestamptz()
    updated_at: datetime = timestamptz()
