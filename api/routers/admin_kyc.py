"""``/api/admin/kyc``: the compliance review queue and decisions (compliance officers, admins)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, status

from api.auth.dependencies import ROLE_RESPONSES, ComplianceAuth, RequestMetaDep, actor_of
from api.deps import SessionDep, StateDep
from api.pagination import CursorPage, PageDep, build_page
from api.schemas.kyc import KycDecisionIn, KycDecisionOut, KycReviewItem
from db.encryption import DecryptionFailed
from db.models import KycRecord
from db.queries import kyc as kyc_q
from domain.kyc import KycDecision, KycStatus, mask_document_number
from services import kyc

router = APIRouter(prefix="/admin/kyc", tags=["admin-kyc"])


@router.get("", responses=ROLE_RESPONSES)
async def list_records(
    principal: ComplianceAuth,
    session: SessionDep,
    state: StateDep,
    page: PageDep,
    status_filter: Annotated[KycStatus | None, Query(alias="status")] = None,
) -> CursorPage[KycReviewItem]:
    """KYC records newest first (``?status=pending`` is the review queue); document numbers masked."""
    rows = await kyc_q.list_by_status(
        session, status=status_filter.value if status_filter else None, after=page.after, limit=page.limit
    )
    cipher = kyc.cipher_for(state)

    def item(row: tuple[KycRecord, str]) -> KycReviewItem:
        record, email = row
        try:
            doc = cipher.decrypt(record.verification_data or {}, record_id=str(record.id))
        except DecryptionFailed:
            doc = {}
        number = doc.get("document_number")
        return KycReviewItem(
            record_id=record.id, user_id=record.user_id, email=email, tier=record.tier, status=record.status,
            document_type=doc.get("document_type"),
            document_number_masked=mask_document_number(number) if number else None,
            full_name=doc.get("full_name"), country=doc.get("country"), created_at=record.created_at,
        )

    return build_page(rows, page, item, position=lambda row: kyc_q.Position(row[0].created_at, row[0].id))


@router.post(
    "/{record_id}/decision",
    status_code=status.HTTP_202_ACCEPTED,
    responses={
        **ROLE_RESPONSES,
        404: {"description": "kyc_record_not_found"},
        409: {"description": "illegal_kyc_transition or not_awaiting_decision"},
        422: {"description": "invalid_decision (a rejection needs a reason)"},
    },
)
async def decide(
    record_id: uuid.UUID,
    body: KycDecisionIn,
    principal: ComplianceAuth,
    session: SessionDep,
    state: StateDep,
    meta: RequestMetaDep,
) -> KycDecisionOut:
    """Approve or reject a pending record; the workflow registers approvals on chain."""
    decision = KycDecision(body.decision, officer_id=str(principal.user.id), reason=body.reason)
    stage = await kyc.decide(session, state, actor_of(principal, meta), record_id, decision)
    return KycDecisionOut(record_id=record_id, decision=body.decision, stage=stage)
