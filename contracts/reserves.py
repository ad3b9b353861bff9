"""Inputs and results of the proof-of-reserves workflow and its activities (small values only:
the tree itself stays in Postgres, docs/DESIGN.md §8)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from temporalio import activity

SNAPSHOT = "snapshot_reserves"
BUILD_TREE = "build_liability_tree"
SIGN = "sign_reserve_proof"
PUBLISH = "publish_reserve_proof"
#: Workflow name (started by the API on demand and by the ``reserve-proof`` schedule).
WORKFLOW = "ProofOfReservesWorkflow"
#: Query name: the current stage (``snapshot``, ``tree``, ``signing``, ``publishing``, ``done``).
GET_STAGE_QUERY = "get_stage"


@dataclass(frozen=True)
class ProofInput:
    """``proof_id`` is set by on-demand requests (the API answers with it); schedules leave it
    None and the workflow draws one."""

    proof_id: uuid.UUID | None = None
    requested_by: uuid.UUID | None = None


@dataclass(frozen=True)
class ProofStepInput:
    """One step (snapshot, tree, signature, publication) of proof ``proof_id``."""

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
class TreeResult:
    """The stored liability tree: root hash, total (satoshis), leaves and depth."""

    root_hash: str
    tree_total_sats: int
    leaf_count: int
    tree_depth: int


@dataclass(frozen=True)
class SignedProof:
    """The signed document's hash, the reserve ratio (basis points; None when supply is 0) and the reserve status."""

    proof_hash: str
    ratio_bps: int | None
    reserve_status: str


@dataclass(frozen=True)
class ProofResult:
    """What ``ProofOfReservesWorkflow`` returns: the proof, its root, ratio, status and the publishing transaction."""

    proof_id: uuid.UUID
    root_hash: str
    ratio_bps: int | None
    reserve_status: str
    published_tx_hash: str


# ---- activity stubs: typed call targets for ``workflow.execute_activity`` ------------------------
# The implementations live in ``activities/``; tests/workflow/test_activity_contracts.py fails when one
# drifts from its stub.


@activity.defn(name=SNAPSHOT)
async def snapshot_reserves(inp: ProofStepInput) -> Snapshot:
    """Pin both heights and sum the UTXO set (``ProofActivities.snapshot_reserves``)."""
    raise NotImplementedError


@activity.defn(name=BUILD_TREE)
async def build_liability_tree(inp: ProofStepInput) -> TreeResult:
    """Build and store the liability tree (``ProofActivities.build_liability_tree``)."""
    raise NotImplementedError


@activity.defn(name=SIGN)
async def sign_reserve_proof(inp: ProofStepInput) -> SignedProof:
    """Sign the proof document (``ProofActivities.sign_reserve_proof``)."""
    raise NotImplementedError


@activity.defn(name=PUBLISH)
async def publish_reserve_proof(inp: ProofStepInput) -> str:
    """Publish on ``reserve_manager``; returns the tx hash (``publish_reserve_proof``)."""
    raise NotImplementedError
