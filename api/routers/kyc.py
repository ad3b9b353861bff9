"""``/api/kyc``: submit KYC documents and read one's own KYC status and limits."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, status

from api.auth.dependencies import AUTH_RESPONSES, RequestMetaDep, UserAuth, actor_of
from api.deps import SessionDep, StateDep
from api.schemas.kyc import KycRecordUpdate, KycRecordUpdated, KycStatusOut, KycSubmission, KycSubmitted, LimitOut
from services import kyc
from services.actor import Actor

router = APIRouter(prefix="/kyc", tags=["kyc"])


@router.post(
    "/submit",
    status_code=status.HTTP_202_ACCEPTED,
    responses={
        **AUTH_RESPONSES,
        409: {"description": "kyc_already_pending"},
        422: {"description": "validation_error (each field with its code, e.g. verification_data.country "
                             "field_required / country_unknown), stellar_address_required, tier_not_offered, "
                             "tier_below_current"},
        503: {"description": "temporal_unavailable"},
    },
)
async def submit(
    body: KycSubmission, principal: UserAuth, session: SessionDep, state: StateDep, meta: RequestMetaDep
) -> KycSubmitted:
    """Submit documents for a tier (1–4); screening and review run in the KYC workflow.

    ``verification_data.country`` (ISO 3166-1 alpha-2) is required for every tier: each approval
    registers it on ``kyc_registry`` as the jurisdiction. Your profile needs a Stellar address.
    """
    data = body.verification_data
    documents = kyc.KycDocuments(body.tier, data.model_dump(exclude_none=True), data.document_type, data.country)
    record = await kyc.submit(session, state, actor_of(principal, meta), documents)
    assert record.workflow_id is not None
    return KycSubmitted(record_id=record.id, status=record.status, workflow_id=record.workflow_id)


@router.get("/status", responses=AUTH_RESPONSES)
async def get_status(principal: UserAuth, session: SessionDep, state: StateDep) -> KycStatusOut:
    """Status of the latest submission, effective tier, expiry, and limits with what is used and left."""
    found = await kyc.status(session, state, Actor(principal.user))
    return KycStatusOut(
        status=found.status, tier=found.tier, expires_at=found.expires_at, record_id=found.record_id,
        limits={op: LimitOut(**limit.__dict__) if limit else None for op, limit in found.limits.items()},
        missing_fields=found.missing_fields, action=found.action,
    )


@router.put(
    "/records/{record_id}",
    responses={
        **AUTH_RESPONSES,
        404: {"description": "kyc_record_not_found"},
        409: {"description": "kyc_record_not_pending"},
        422: {"description": "validation_error (country field_required / country_unknown)"},
        503: {"description": "temporal_unavailable (the change is saved; repeat to resume)"},
    },
)
async def update_record(
    record_id: uuid.UUID, body: KycRecordUpdate, principal: UserAuth, session: SessionDep, state: StateDep,
    meta: RequestMetaDep,
) -> KycRecordUpdated:
    """Add what your pending submission lacks (``country``, for records submitted before it was
    required); its review or registration then goes on by itself."""
    record, missing = await kyc.update_record(session, state, actor_of(principal, meta), record_id, country=body.country)
    return KycRecordUpdated(record_id=record.id, status=record.status, missing_fields=missing)
