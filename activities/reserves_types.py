"""Inputs and results of the proof-of-reserves workflow and its activities (small values only:
the tree itself stays in Postgres, docs/DESIGN.md §8)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass


@dataclass(frozen=True)
class ProofInput:
    """``proof_id`` is set by on-demand requests (the API answers with it); schedules leave it
    None and the workflow draws one."""

    proof_id: uuid.UUID | None = None
    requested_by: uuid.UUID | None = None


@dataclass(frozen=True)
class SnapshotInput:
    proof_id: uuid.UUID


@dataclass(frozen=True)
class Snapshot:
    """Pinned heights and the totals read there (satoshis / base units)."""

    proof_id: uuid.UUID
    btc_height: int
    stellar_ledger: int
    reserves_sats: int
    supply_units: int
    burned_unpaid_sats: int


@dataclass(frozen=True)
class ProofStepInput:
    proof_id: uuid.UUID


@dataclass(frozen=True)
class TreeResult:
    root_hash: str
    tree_total_sats: int
    leaf_count: int
    tree_depth: int


@dataclass(frozen=True)
class SignedProof:
    proof_hash: str
    ratio_bps: int | None
    reserve_status: str


@dataclass(frozen=True)
class ProofResult:
    proof_id: uuid.UUID
    root_hash: str
    ratio_bps: int | None
    reserve_status: str
    published_tx_hash: str
