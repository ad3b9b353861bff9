"""Token payloads: iSTSi balances (base units; 1 unit = 1 satoshi) and their history."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel


class BalanceOut(BaseModel):
    token_address: str
    balance: int
    """Credited base units."""
    reserved_balance: int
    """Part of ``balance`` held for withdrawals in flight."""
    available: int


class BalancesOut(BaseModel):
    source: Literal["projection", "chain"]
    stellar_address: str | None
    balances: list[BalanceOut]


class HistoryEntry(BaseModel):
    """One posted change of the caller's iSTSi in the books: ``amount`` is signed (+ credited,
    - debited), ``kind`` says why (``deposit_credit``, ``withdrawal_hold`` posted by the burn,
    ``withdrawal_remint``, ``chain_transfer``, ``reorg_hold`` written off …)."""

    transfer_id: str
    kind: str
    amount: int
    operation_id: uuid.UUID | None
    operation_type: str | None
    status: str | None
    """The operation's status (None for chain transfers, which have no operation)."""
    stellar_tx_hash: str | None
    btc_tx_hash: str | None
    created_at: datetime
    completed_at: datetime | None


class HistoryPage(BaseModel):
    items: list[HistoryEntry]
    next_cursor: str | None
    """Pass as ``cursor`` to get the next page; ``null`` when this is the last one."""
