"""``/api/kyc``: submit KYC documents and read one's own KYC status and limits."""

from __future__ import annotations

from fastapi import APIRouter, status

from api import kyc_flow
from api.auth.dependencies import AUTH_RESPONSES, RequestMetaDep, UserAuth
from api.deps import SessionDep, StateDep
from api.schemas.kyc import KycStatusOut, KycSubmission, KycSubmitted

router = APIRouter(prefix="/kyc", tags=["kyc"])


@router.post(
    "/submit",
    status_code=status.HTTP_202_ACCEPTED,
    responses={
        **AUTH_RESPONSES,
        409: {"description": "stellar_address_required or kyc_already_pending"},
        422: {"description": "invalid tier or verification data"},
        503: {"description": "temporal_unavailable"},
    },
)
async def submit(
    body: KycSubmission, principal: UserAuth, session: SessionDep, state: StateDep, meta: RequestMetaDep
) -> KycSubmitted:
    """Submit documents for a tier (1–4); screening and review run in the KYC workflow."""
    record = await kyc_flow.submit(session, state, principal, meta, body)
    assert record.workflow_id is not None
    return KycSubmitted(record_id=record.id, status=record.status, workflow_id=record.workflow_id)


@router.get("/status", responses=AUTH_RESPONSES)
async def get_status(principal: UserAuth, session: SessionDep, state: StateDep) -> KycStatusOut:
    """Status of the latest submission, effective tier, expiry, and limits with what is used and left."""
    return await kyc_flow.status(session, state, principal)
