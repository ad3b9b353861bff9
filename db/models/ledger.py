"""``ledger_accounts`` and ``ledger_transfers``: the books (``domain/ledger.py`` for the model,
``domain/chart.py`` for what each account means).

Balances are never written by hand: the trigger ``ledger_apply_transfer`` (migration
``0010_books``) applies each inserted transfer to its two accounts, the account CHECKs enforce
the balance flags, and the same trigger keeps ``token_balances`` (the projection of
``user_istsi`` accounts) current, all in the inserting transaction. Transfers are immutable:
updates and deletes are refused by ``ledger_transfers_immutable``.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    ForeignKey,
    Identity,
    Index,
    Integer,
    SmallInteger,
    String,
    text,
)
from sqlalchemy.dialects.postgresql import UUID
from sqlmodel import Field, SQLModel

from db.models.base import sats, timestamptz


class LedgerAccount(SQLModel, table=True):
    __tablename__ = "ledger_accounts"
    __table_args__ = (
        CheckConstraint(
            "debits_pending >= 0 AND debits_posted >= 0 AND credits_pending >= 0 AND credits_posted >= 0",
            name="ck_ledger_accounts_counters_nonnegative",
        ),
        CheckConstraint(
            "(flags & 2) = 0 OR debits_pending + debits_posted <= credits_posted",
            name="ck_ledger_accounts_debits_must_not_exceed_credits",
        ),
        CheckConstraint(
            "(flags & 4) = 0 OR credits_pending + credits_posted <= debits_posted",
            name="ck_ledger_accounts_credits_must_not_exceed_debits",
        ),
        # A user's iSTSi is a proof-of-reserves leaf, keyed by its user id.
        CheckConstraint("code <> 'user_istsi' OR user_id IS NOT NULL", name="ck_ledger_accounts_user_istsi_has_user"),
        Index("ix_ledger_accounts_user", "user_id"),
    )

    key: str = Field(sa_column=Column(String, primary_key=True))
    """``code`` or ``code:<user id>`` (:func:`domain.chart.account_key`)."""
    ledger: int = Field(sa_column=Column(SmallInteger, nullable=False))
    """1 BTC (sats), 2 iSTSi (base units): :class:`domain.ledger.LedgerId`."""
    code: str = Field(sa_column=Column(String, nullable=False))
    """:class:`domain.chart.AccountCode`."""
    flags: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default=text("0")))
    """:class:`domain.ledger.AccountFlags` bits."""
    user_id: uuid.UUID | None = Field(
        default=None, sa_column=Column(UUID(as_uuid=True), ForeignKey("users.id"), nullable=True)
    )
    token_address: str | None = Field(default=None, sa_column=Column(String, nullable=True))
    """For ``user_istsi`` accounts: the token contract whose ``token_balances`` row this account projects."""
    debits_pending: int = sats()
    debits_posted: int = sats()
    credits_pending: int = sats()
    credits_posted: int = sats()
    created_at: datetime = timestamptz()
    updated_at: datetime = timestamptz()


class LedgerTransfer(SQLModel, table=True):
    __tablename__ = "ledger_transfers"
    __table_args__ = (
        CheckConstraint("amount > 0", name="ck_ledger_transfers_amount_positive"),
        CheckConstraint("debit_account <> credit_account", name="ck_ledger_transfers_accounts_differ"),
        Index("ux_ledger_transfers_resolves", "pending_id", unique=True, postgresql_where=text("pending_id IS NOT NULL")),
        Index("ix_ledger_transfers_operation", "operation_id"),
        Index("ix_ledger_transfers_debit_seq", "debit_account", "seq"),
        Index("ix_ledger_transfers_credit_seq", "credit_account", "seq"),
    )

    id: str = Field(sa_column=Column(String, primary_key=True))
    """Derived from the step (``deposit-credit:<operation id>``): the idempotency key."""
    seq: int = Field(sa_column=Column(BigInteger, Identity(always=True), nullable=False, unique=True))
    """Journal position: strictly increasing in insertion order."""
    debit_account: str = Field(sa_column=Column(String, ForeignKey("ledger_accounts.key"), nullable=False))
    credit_account: str = Field(sa_column=Column(String, ForeignKey("ledger_accounts.key"), nullable=False))
    amount: int = Field(sa_column=Column(BigInteger, nullable=False))
    """Satoshis (BTC ledger) or base units (iSTSi ledger)."""
    ledger: int = Field(sa_column=Column(SmallInteger, nullable=False))
    code: str = Field(sa_column=Column(String, nullable=False))
    """:class:`domain.chart.TransferCode`: why the money moved."""
    flags: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default=text("0")))
    """:class:`domain.ledger.TransferFlags` bits (pending, post, void, linked)."""
    pending_id: str | None = Field(
        default=None, sa_column=Column(String, ForeignKey("ledger_transfers.id"), nullable=True)
    )
    """The pending transfer this one posts or voids (at most one per pending transfer)."""
    operation_id: uuid.UUID | None = Field(default=None, sa_column=Column(UUID(as_uuid=True), nullable=True))
    """The operation the step belongs to, when there is one."""
    created_at: datetime = timestamptz()


class LedgerCodeTotal(SQLModel, table=True):
    """The counters of every account of one kind, summed (kept by a trigger for the per-user
    kinds whose total the solvency guard reads: ``pending_receipts``)."""

    __tablename__ = "ledger_code_totals"

    code: str = Field(sa_column=Column(String, primary_key=True))
    debits_pending: int = sats()
    debits_posted: int = sats()
    credits_pending: int = sats()
    credits_posted: int = sats()
