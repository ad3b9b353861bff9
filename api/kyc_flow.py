"""KYC requests from the API: record a submission and start its workflow, report status,
pass a compliance officer's decision to the workflow.

A submission inserts the encrypted record, audits it and starts ``kyc-<user>-<record>`` inside
the request's transaction: if Temporal is down the insert rolls back (503), so no record is
left without a workflow.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import WorkflowUpdateFailedError
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.service import RPCError, RPCStatusCode

from activities import kyc_types
from api.auth.dependencies import Principal, RequestMeta
from api.errors import ApiError, field_error
from api.schemas.kyc import KycDecisionIn, KycRecordUpdate, KycRecordUpdated, KycStatusOut, KycSubmission, LimitOut
from api.state import AppState
from api.temporal import TemporalUnavailable
from contracts.workflow_ids import kyc_workflow_id
from db.audit import record_audit
from db.encryption import RecordCipher
from db.models import KycRecord
from db.queries import kyc as kyc_q
from db.queries.limits import get_usage
from domain.kyc import (
    COUNTRY_FIELD,
    KycDecision,
    KycStage,
    KycStatus,
    TierBelowCurrent,
    TierNotOffered,
    check_requested_tier,
    missing_for_registration,
    validate_decision,
)
from domain.limits import LimitedOperation, LimitPolicy, view
from workflows import search_attributes as sa
from workflows.kyc import KycApprovalWorkflow, KycWorkflowInput


def cipher_for(state: AppState) -> RecordCipher:
    kyc = state.settings.kyc
    return RecordCipher(kyc.encryption_keys, kyc.active_key_id)


async def submit(
    session: AsyncSession, state: AppState, principal: Principal, meta: RequestMeta, body: KycSubmission
) -> KycRecord:
    """Record a pending submission and start its approval workflow.

    Everything a later step needs is checked here, so an approval never fails on it: the Stellar
    address (receives the mint, registered on ``kyc_registry``), the country (the schema; the
    registry's jurisdiction) and a tier the user may request.

    Raises:
        ApiError: 422 ``stellar_address_required`` (field ``stellar_address``),
            ``tier_not_offered`` / ``tier_below_current`` (field ``tier``); 409
            ``kyc_already_pending``; 503 ``temporal_unavailable``.
    """
    user = principal.user
    if not user.stellar_address:
        raise field_error(
            422, "stellar_address_required", "stellar_address",
            "set your Stellar account on your profile first (PUT /api/users/profile "
            '{"stellar_address": "G…"}): it receives the minted iSTSi and is registered on kyc_registry',
        )
    current = await kyc_q.current_tier(session, user_id=user.id, now=datetime.now(UTC))
    try:
        check_requested_tier(body.tier, current_tier=current, offered=state.settings.kyc.tier_limits.keys())
    except (TierNotOffered, TierBelowCurrent) as exc:
        raise field_error(422, exc.code, exc.field, str(exc)) from None
    record_id = uuid.uuid4()
    cipher = cipher_for(state)
    document = body.verification_data.model_dump(exclude_none=True)
    record = KycRecord(
        id=record_id,
        user_id=user.id,
        tier=body.tier,
        status=KycStatus.PENDING.value,
        verification_data=cipher.encrypt(document, record_id=str(record_id)),
        encryption_key_id=cipher.active_key_id,
        jurisdiction=body.verification_data.country,
        workflow_id=kyc_workflow_id(user.id, record_id),
    )
    try:
        async with session.begin_nested():
            session.add(record)
            await session.flush()
    except IntegrityError:
        raise await _already_pending(session, user.id) from None
    record_audit(
        session, action="kyc.submitted", resource_type="kyc_record", resource_id=record_id, actor_id=user.id,
        new_values={"tier": body.tier, "document_type": body.verification_data.document_type},
        ip_address=meta.ip_address, user_agent=meta.user_agent,
    )
    await _start_workflow(state, record, str(user.id))
    return record


async def _already_pending(session: AsyncSession, user_id: uuid.UUID) -> ApiError:
    """409 ``kyc_already_pending``, saying how to complete the pending record when it lacks a field."""
    pending = await kyc_q.latest_record(session, user_id=user_id)
    missing = _missing(pending)
    if pending is not None and missing:
        return ApiError(
            409, "kyc_already_pending",
            f"your pending submission lacks {', '.join(missing)}: add it with PUT /api/kyc/records/{pending.id}",
            extra={"record_id": str(pending.id), "missing_fields": list(missing)},
        )
    return ApiError(409, "kyc_already_pending", "a KYC submission is already pending; wait for its decision")


async def _start_workflow(state: AppState, record: KycRecord, user_id: str) -> None:
    try:
        client = await state.temporal.client()
        await client.start_workflow(
            KycApprovalWorkflow.run,
            KycWorkflowInput(record_id=str(record.id), user_id=user_id, tier=record.tier,
                             validity_days=state.settings.kyc.approval_validity_days),
            id=record.workflow_id,
            task_queue=state.settings.temporal.task_queue,
            search_attributes=TypedSearchAttributes(
                [
                    SearchAttributePair(sa.OPERATION_TYPE, "kyc"),
                    SearchAttributePair(sa.STAGE, KycStage.SCREENING.value),
                    SearchAttributePair(sa.USER_ID, user_id),
                ]
            ),
        )
    except (TemporalUnavailable, RPCError) as exc:
        raise ApiError(503, "temporal_unavailable", "the workflow service is unavailable; try again") from exc


async def status(session: AsyncSession, state: AppState, principal: Principal) -> KycStatusOut:
    """The caller's KYC status, effective tier, expiry and limits with usage."""
    now = datetime.now(UTC)
    user_id = principal.user.id
    latest = await kyc_q.latest_record(session, user_id=user_id)
    tier = await kyc_q.current_tier(session, user_id=user_id, now=now)
    policy = LimitPolicy.from_settings(state.settings.kyc)
    limits: dict[str, LimitOut | None] = {}
    for op in LimitedOperation:
        usage = await get_usage(session, user_id=user_id, operation_type=op.value, now=now)
        allowed = tier >= policy.min_tier[op]
        limit_view = view(policy, tier, usage) if allowed else None
        limits[op.value] = LimitOut(**limit_view.__dict__) if limit_view else None
    missing = _missing(latest)
    return KycStatusOut(
        status=latest.status if latest else "none",
        tier=tier,
        expires_at=latest.expires_at if latest and latest.status == KycStatus.APPROVED.value else None,
        record_id=latest.id if latest else None,
        limits=limits,
        missing_fields=list(missing),
        action=_next_action(latest, tier, missing, now),
    )


def _missing(record: KycRecord | None) -> tuple[str, ...]:
    if record is None or record.status != KycStatus.PENDING.value:
        return ()
    return missing_for_registration(tier=record.tier, jurisdiction=record.jurisdiction)


def _next_action(record: KycRecord | None, tier: int, missing: tuple[str, ...], now: datetime) -> str | None:
    """What the user can do next about their KYC, in words."""
    if record is None:
        return "submit KYC (POST /api/kyc/submit) to deposit and withdraw"
    if missing:
        return f"add {', '.join(missing)} with PUT /api/kyc/records/{record.id}; the review then goes on"
    if record.status == KycStatus.PENDING.value:
        return None
    if tier == 0:
        why = {"rejected": "was rejected", "expired": "expired", "revoked": "was revoked"}.get(record.status)
        if record.status == KycStatus.APPROVED.value and record.expires_at is not None and record.expires_at <= now:
            why = "expired"
        return f"your KYC {why}: submit again (POST /api/kyc/submit)" if why else None
    return None


async def update_record(
    session: AsyncSession, state: AppState, principal: Principal, meta: RequestMeta,
    record_id: uuid.UUID, body: KycRecordUpdate,
) -> KycRecordUpdated:
    """Add a field a pending submission lacks (``country``), then tell its workflow to go on.

    The change is committed before the workflow is signalled (its registration step reads the
    record). Repeating the request is harmless and signals again.

    Raises:
        ApiError: 404 ``kyc_record_not_found`` (absent or not yours); 409 ``kyc_record_not_pending``;
            503 ``temporal_unavailable`` (the change is saved: repeat the request to resume).
    """
    record = await kyc_q.get_record(session, record_id=record_id, for_update=True)
    if record is None or record.user_id != principal.user.id:
        raise ApiError(404, "kyc_record_not_found", "no such KYC record of yours")
    if record.status != KycStatus.PENDING.value:
        raise ApiError(409, "kyc_record_not_pending", f"the record is {record.status}; submit a new one instead")
    cipher = cipher_for(state)
    document = cipher.decrypt(record.verification_data or {}, record_id=str(record.id))
    old_country = record.jurisdiction
    document["country"] = body.country
    record.verification_data = cipher.encrypt(document, record_id=str(record.id))
    record.encryption_key_id = cipher.active_key_id
    record.jurisdiction = body.country
    record.updated_at = datetime.now(UTC)
    record_audit(
        session, action="kyc.data_supplied", resource_type="kyc_record", resource_id=record.id,
        actor_id=principal.user.id, old_values={"country": old_country}, new_values={"country": body.country},
        ip_address=meta.ip_address, user_agent=meta.user_agent,
    )
    await session.commit()
    workflow_id = record.workflow_id or kyc_workflow_id(record.user_id, record.id)
    try:
        client = await state.temporal.client()
        await client.get_workflow_handle(workflow_id).signal(
            kyc_types.DATA_SUPPLIED_SIGNAL, kyc_types.DataSupplied(fields=[COUNTRY_FIELD])
        )
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:
            raise ApiError(503, "temporal_unavailable", "your change is saved; repeat this request to resume the review") from exc
    except TemporalUnavailable as exc:
        raise ApiError(503, "temporal_unavailable", "your change is saved; repeat this request to resume the review") from exc
    return KycRecordUpdated(record_id=record.id, status=record.status, missing_fields=list(_missing(record)))


async def decide(
    session: AsyncSession, state: AppState, principal: Principal, meta: RequestMeta,
    record_id: uuid.UUID, body: KycDecisionIn,
) -> str:
    """Hand an officer's decision to the record's workflow (Temporal update); return its stage.

    Raises:
        ApiError: 404 ``kyc_record_not_found``; 403 ``self_review``; 409 ``illegal_kyc_transition``
            (not pending) or ``not_awaiting_decision`` (still screening, or already decided);
            422 ``invalid_decision``; 503 ``temporal_unavailable``.
    """
    record = await kyc_q.get_record(session, record_id=record_id)
    if record is None:
        raise ApiError(404, "kyc_record_not_found", "no such KYC record")
    decision = KycDecision(body.decision, officer_id=str(principal.user.id), reason=body.reason)
    validate_decision(decision, str(record.user_id))  # SelfReview 403, InvalidDecision 422 (the workflow re-checks)
    if record.status != KycStatus.PENDING.value:
        raise ApiError(409, "illegal_kyc_transition", f"the record is {record.status}, not pending")
    try:
        client = await state.temporal.client()
        handle = client.get_workflow_handle(record.workflow_id or kyc_workflow_id(record.user_id, record.id))
        stage = await handle.execute_update(KycApprovalWorkflow.decide, decision, id=f"decision-{record.id}")
    except WorkflowUpdateFailedError as exc:
        raise ApiError(409, "not_awaiting_decision", "the record is not awaiting a decision") from exc
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise ApiError(409, "not_awaiting_decision", "the record's workflow is not running") from exc
        raise ApiError(503, "temporal_unavailable", "the workflow service is unavailable; try again") from exc
    except TemporalUnavailable as exc:
        raise ApiError(503, "temporal_unavailable", "the workflow service is unavailable; try again") from exc
    record_audit(
        session, action="kyc.decision_submitted", resource_type="kyc_record", resource_id=record.id,
        actor_id=principal.user.id, new_values={"decision": body.decision.value, "reason": body.reason},
        ip_address=meta.ip_address, user_agent=meta.user_agent,
    )
    return stage
