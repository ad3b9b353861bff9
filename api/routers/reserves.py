"""``/api/reserves`` (latest proof with the caller's inclusion proof, reserve status) and
``/api/admin/reserves/proof`` (run a proof now)."""

from __future__ import annotations

from fastapi import APIRouter, status

from api.auth.dependencies import ROLE_RESPONSES, AdminAuth, UserAuth
from api.deps import SessionDep, StateDep
from api.schemas.reserves import ProofFile, ProofRequested, ReserveStatusOut
from db.queries import reserve_proofs as proofs
from domain.errors import NotFound
from domain.proof_document import inclusion_to_json
from domain.reserves import RatioThresholds, reserve_status
from services import reserves
from services.actor import Actor

router = APIRouter(prefix="/reserves", tags=["reserves"])
admin_router = APIRouter(prefix="/admin/reserves", tags=["reserves"])


@router.get("/proof", response_model=ProofFile, responses={**ROLE_RESPONSES, 404: {"description": "no_proof"}})
async def latest_proof(auth: UserAuth, session: SessionDep) -> ProofFile:
    """The latest published proof and, when the caller has a leaf in it, their inclusion proof."""
    row = await proofs.latest_published(session)
    if row is None or row.document is None:
        raise NotFound("no proof of reserves has been published yet", code="no_proof")
    proof = await proofs.inclusion_proof(session, proof=row, user_id=auth.user.id)
    inclusion = None if proof is None else inclusion_to_json(proof)
    return ProofFile(
        proof={**row.document, "signature": row.signature}, inclusion=inclusion,
        published_tx_hash=row.published_tx_hash, published_at=row.published_at,
    )


@router.get("/status", response_model=ReserveStatusOut, responses=ROLE_RESPONSES)
async def reserves_status(auth: UserAuth, session: SessionDep, state: StateDep) -> ReserveStatusOut:
    """Reserves, supply, ratio and status from the latest published proof (``unknown`` before any)."""
    r = state.settings.reserves
    thresholds = RatioThresholds(r.warning_ratio_bps, r.critical_ratio_bps, r.minimum_ratio_bps)
    row = await proofs.latest_published(session)
    lines = {"warning": thresholds.warning_bps, "critical": thresholds.critical_bps, "minimum": thresholds.minimum_bps}
    if row is None:
        return ReserveStatusOut(
            reserves_sats=None, supply_units=None, liabilities_sats=None, ratio_bps=None, status="unknown",
            thresholds_bps=lines, last_proof_at=None, btc_height=None, stellar_ledger=None,
        )
    return ReserveStatusOut(
        reserves_sats=row.reserves_sats, supply_units=row.supply_units, liabilities_sats=row.liabilities_sats,
        ratio_bps=row.ratio_bps, status=reserve_status(row.ratio_bps, thresholds).value, thresholds_bps=lines,
        last_proof_at=row.created_at, btc_height=row.btc_height, stellar_ledger=row.stellar_ledger,
    )


@admin_router.post(
    "/proof", status_code=status.HTTP_202_ACCEPTED, response_model=ProofRequested,
    responses={**ROLE_RESPONSES, 503: {"description": "temporal_unavailable"}},
)
async def request_proof(auth: AdminAuth, state: StateDep) -> ProofRequested:
    """Start a proof of reserves now; poll ``GET /api/reserves/proof`` for the result."""
    proof_id, workflow_id = await reserves.request_proof(state, Actor(auth.user))
    return ProofRequested(proof_id=proof_id, workflow_id=workflow_id)
