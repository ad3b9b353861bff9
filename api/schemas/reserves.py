"""Schemas of the reserves and system-oversight endpoints. Amounts in satoshis, ratios in bps."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field


class ProofFile(BaseModel):
    """The latest proof and the caller's inclusion proof: save it and run ``custody verify-proof``."""

    proof: dict[str, Any]
    """Signed document fields plus ``signature`` (see ``domain/proof_document.py``)."""
    inclusion: dict[str, Any] | None
    """The caller's leaf and sibling path; null when the caller had no liability in the proof."""
    published_tx_hash: str | None
    published_at: datetime | None


class ReserveStatusOut(BaseModel):
    reserves_sats: int | None
    supply_units: int | None
    liabilities_sats: int | None
    ratio_bps: int | None
    status: Literal["ok", "warning", "critical", "breach", "unknown"]
    thresholds_bps: dict[str, int]
    last_proof_at: datetime | None
    btc_height: int | None
    stellar_ledger: int | None


class ProofRequested(BaseModel):
    proof_id: uuid.UUID
    workflow_id: str


class PauseRequest(BaseModel):
    reason: str = Field(min_length=3, max_length=500)


class PauseOut(BaseModel):
    minting: bool
    withdrawals: bool
    reason: str | None
    chain_workflow_id: str | None = None


class OverviewOut(BaseModel):
    reserves_sats: int | None
    supply_units: int | None
    ratio_bps: int | None
    reserve_status: str
    operations_by_status: dict[str, dict[str, int]]
    """``{operation_type: {status: count}}``."""
    active_users_24h: int
    last_reconciliation: dict[str, Any] | None
    last_proof: dict[str, Any] | None
    pause: PauseOut
    event_monitor: dict[str, Any] | None
