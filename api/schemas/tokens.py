"""Token payloads: iSTSi balances (base units; 1 unit = 1 satoshi) and their history."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel

from db.models import Operation


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
    """One balance change: ``amount`` is signed (+ deposit credited, - withdrawal burned)."""

    operation_id: uuid.UUID
    operation_type: str
    status: str
    amount: int
    stellar_tx_hash: str | None
    btc_tx_hash: str | None
    created_at: datetime
    completed_at: datetime | None

    @classmethod
    def of(cls, op: Operation) -> HistoryEntry:
        sign = -1 if op.operation_type == "withdrawal" else 1
        return cls(
            operation_id=op.id, operation_type=op.operation_type, status=op.status, amount=sign * (op.amount or 0),
            stellar_tx_hash=op.stellar_tx_hash, btc_tx_hash=op.btc_tx_hash, created_at=op.created_at,
            completed_at=op.completed_at,
        )
