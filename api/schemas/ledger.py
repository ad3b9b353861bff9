"""The books for operators: ledger accounts and transfers (amounts in sats / base units)."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel


class LedgerAccountOut(BaseModel):
    """One account: its four counters and the balance on its normal side (``domain/chart.py``)."""

    key: str
    ledger: str
    """``btc`` (satoshis) or ``istsi`` (base units)."""
    code: str
    user_id: uuid.UUID | None
    debits_pending: int
    debits_posted: int
    credits_pending: int
    credits_posted: int
    balance: int
    """Posted balance on the account's normal side."""


class LedgerAccountsPage(BaseModel):
    items: list[LedgerAccountOut]
    next_cursor: str | None
    """The key to pass as ``after`` for the next page; ``null`` on the last one."""


class LedgerTransferOut(BaseModel):
    id: str
    seq: int
    """Journal position."""
    ledger: str
    code: str
    debit_account: str
    credit_account: str
    amount: int
    phase: str
    """``posted`` (single-phase), ``pending``, ``post`` or ``void``."""
    pending_id: str | None
    operation_id: uuid.UUID | None
    created_at: datetime


class LedgerTransfersPage(BaseModel):
    items: list[LedgerTransferOut]
    next_cursor: str | None
