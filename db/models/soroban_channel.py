"""``soroban_channels``: the pool of channel accounts that source and pay for Soroban transactions.

One row per channel account (its public strkey; the secret never enters the database). A
channel serves one transaction at a time: a worker leases it (``lease_owner`` until
``leased_until``), binds the signed envelope it stores before sending (``submission_key``,
``tx_hash``), and frees it only when that envelope is resolved by its hash (applied, failed on
chain, or provably dead). ``sequence`` is the account's last consumed sequence number as this
engine tracks it, so building a transaction needs no network round trip.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, Column, String
from sqlmodel import Field, SQLModel

from db.models.base import timestamptz, varchar


class SorobanChannel(SQLModel, table=True):
    __tablename__ = "soroban_channels"
    __table_args__ = (
        CheckConstraint("submission_key IS NULL OR tx_hash IS NOT NULL", name="ck_soroban_channels_bound_hash"),
    )

    public_key: str = Field(sa_column=Column(String, primary_key=True))
    """The channel account's strkey ``G…``."""
    sequence: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    """Last sequence number consumed on the network (None: load it from the network next time)."""
    lease_owner: str | None = varchar()
    """Random token of the submitter holding the lease (None: free)."""
    leased_until: datetime | None = timestamptz(nullable=True, default_now=False)
    """End of the lease; after it, another worker may resolve the bound envelope by its hash."""
    submission_key: str | None = varchar()
    """``chain_submissions.idempotency_key`` whose stored envelope uses this channel, unresolved."""
    tx_hash: str | None = varchar()
    """Hex hash of that envelope."""
    envelope_sequence: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    """Sequence number of that envelope."""
    max_time: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    """Time bound of that envelope, unix seconds."""
    auth_expiration_ledger: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    """Last ledger at which that envelope's signed authorization entries are valid."""
    balance_stroops: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    """Native XLM balance at the last check, in stroops (1 XLM = 10,000,000 stroops)."""
    balance_checked_at: datetime | None = timestamptz(nullable=True, default_now=False)
    last_used_at: datetime | None = timestamptz(nullable=True, default_now=False)
    created_at: datetime = timestamptz()
    updated_at: datetime = timestamptz()
