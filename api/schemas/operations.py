"""Operation payloads: a deposit or withdrawal as clients and operators see it."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, StringConstraints

from db.models import Operation

Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=500)]
"""Why a person acts on an operation or payout (3 to 500 characters, trimmed; kept in the audit log)."""


class OperationAccepted(BaseModel):
    """What a 202 answer names of the operation it started: its id, status and workflow."""

    operation_id: uuid.UUID
    status: str
    workflow_id: str

    @classmethod
    def of(cls, op: Operation) -> Self:
        return cls(operation_id=op.id, status=op.status, workflow_id=op.workflow_id or "")


class StageChange(BaseModel):
    stage: str
    status: str | None
    at: datetime


class PayoutShare(BaseModel):
    """A withdrawal's part of the payout (batch) that pays it: its output (``vout`` of ``txid``),
    what its recipient receives and its share of the network fee (own output's size plus an equal
    share of the transaction's overhead). Amounts in satoshis, rate in sat/vB."""

    payout_id: uuid.UUID
    txid: str | None
    fee_share_sats: int | None
    recipient_sats: int | None
    fee_rate_sat_vb: int | None
    batch_outputs: int | None


class OperationOut(BaseModel):
    """One operation (the Postgres projection of its workflow). Amounts in satoshis, depths in blocks."""

    id: uuid.UUID
    operation_type: str
    status: str
    stage: str | None
    amount_sats: int | None
    btc_tx_hash: str | None
    vout: int | None
    outpoints: list[str] | None = None
    """A deposit of several small receipts: every outpoint it credits (``btc_tx_hash:vout`` is the last)."""
    confirmations: int | None
    required_confirmations: int | None
    stellar_tx_hash: str | None
    stellar_address: str | None
    workflow_id: str | None
    error: str | None
    waiting_for: str | None = None
    """While the operation waits on you (stages ``awaiting_kyc``, ``awaiting_limits``): what you must
    do, in words. It continues by itself once done; no operator is involved."""
    waiting_reason: str | None = None
    """Stable code of the wait: ``kyc_required``, ``kyc_pending``, ``kyc_expired``,
    ``kyc_tier_too_low``, ``kyc_data_missing`` or ``limit_window``."""
    created_at: datetime
    updated_at: datetime
    completed_at: datetime | None
    stages: list[StageChange] | None = None
    """Each stage the operation went through, oldest first (single-operation reads only)."""
    payout: PayoutShare | None = None
    """A withdrawal's payout once built: its fee share and what its recipient receives."""

    @classmethod
    def of(cls, op: Operation) -> OperationOut:
        meta = op.meta or {}
        return cls(
            id=op.id, operation_type=op.operation_type, status=op.status, stage=op.stage, amount_sats=op.amount,
            btc_tx_hash=op.btc_tx_hash, vout=meta.get("vout"), outpoints=meta.get("outpoints"),
            confirmations=op.confirmations,
            required_confirmations=op.required_confirmations, stellar_tx_hash=op.stellar_tx_hash,
            stellar_address=meta.get("stellar_address"), workflow_id=op.workflow_id, error=op.error,
            waiting_for=op.waiting_for, waiting_reason=meta.get("wait_reason") if op.waiting_for else None,
            created_at=op.created_at, updated_at=op.updated_at, completed_at=op.completed_at,
            payout=PayoutShare(**meta["payout"]) if isinstance(meta.get("payout"), dict) else None,
        )


class OperatorActionIn(BaseModel):
    """``POST /api/admin/operations/{id}/retry|cancel``: why (kept in the audit log)."""

    model_config = ConfigDict(extra="forbid")

    reason: Reason


class OperatorActionAccepted(BaseModel):
    operation_id: uuid.UUID
    action: str
    workflow_id: str
