"""KYC: record a submission, commit, then start its workflow; report a user's status; add a field
a pending record lacks; pass a compliance officer's decision to the workflow.

A submission inserts the encrypted record with its audit row and commits *before*
``kyc-<user>-<record>`` starts, so no workflow runs without its record. If the start fails
(Temporal down) the pending record stays (503); submitting again meets that pending record
(409 ``kyc_already_pending``) and starts its workflow first, once (the id is deterministic and a
closed run is never started again).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from contracts import kyc as kyc_contract
from contracts.kyc import kyc_workflow_input
from contracts.starters import start_kyc_approval
from contracts.workflow_ids import kyc_workflow_id
from db.audit import record_audit
from db.encryption import RecordCipher
from db.models import KycRecord
from db.queries import kyc as kyc_q
from db.queries.limits import get_usage
from domain.errors import Conflict, InvalidField, NotFound
from domain.kyc import (
    COUNTRY_FIELD,
    KycDecision,
    KycStatus,
    TierBelowCurrent,
    TierNotOffered,
    check_requested_tier,
    validate_decision,
)
from domain.kyc_review import RecordFacts, missing_fields, next_action
from domain.limits import LimitedOperation, LimitPolicy, LimitView, view
from services.actor import Actor
from services.state import AppState
from services.temporal_gateway import (
    TemporalUnavailable,
    UpdateRefused,
    WorkflowNotRunning,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class KycDocuments:
    """A submission for ``tier``: the documents as submitted (encrypted at rest), with the two
    fields the engine reads itself, ``document_type`` and ``country`` (ISO 3166-1 alpha-2)."""

    tier: int
    document: dict[str, Any]
    document_type: str
    country: str


@dataclass(frozen=True)
class KycStatusView:
    """A user's KYC: the latest record's status (``none``), effective tier, expiry, limits per
    operation (None when the tier allows none), what the pending record lacks and what to do next."""

    status: str
    tier: int
    expires_at: datetime | None
    record_id: uuid.UUID | None
    limits: dict[str, LimitView | None]
    missing_fields: list[str]
    action: str | None


def cipher_for(state: AppState) -> RecordCipher:
    """The cipher of KYC documents with the configured keys (encrypts with the active one)."""
    kyc = state.settings.kyc
    return RecordCipher(kyc.encryption_keys, kyc.active_key_id)


def _facts(record: KycRecord | None) -> RecordFacts | None:
    if record is None:
        return None
    return RecordFacts(record.id, KycStatus(record.status), record.tier, record.jurisdiction, record.expires_at)


async def submit(session: AsyncSession, state: AppState, actor: Actor, documents: KycDocuments) -> KycRecord:
    """Record a pending submission, commit, and start its approval workflow.

    Everything a later step needs is checked here, so an approval never fails on it: the Stellar
    address (receives the mint, registered on ``kyc_registry``), the country (the schema; the
    registry's jurisdiction) and a tier the user may request.

    Raises:
        InvalidField: ``stellar_address_required`` (field ``stellar_address``), ``tier_not_offered`` /
            ``tier_below_current`` (field ``tier``).
        Conflict: ``kyc_already_pending`` (after making sure the pending record's workflow runs).
        TemporalUnavailable: the record is kept; submitting again starts its workflow, and so
            does the deposit scan's heal within 12 hours (``HEAL_STARTS_WITHIN``).
    """
    user = actor.user
    if not user.stellar_address:
        raise InvalidField(
            "stellar_address_required", "stellar_address",
            "set your Stellar account on your profile first (PUT /api/users/profile "
            '{"stellar_address": "G…"}): it receives the minted iSTSi and is registered on kyc_registry',
        )
    current = await kyc_q.current_tier(session, user_id=user.id, now=datetime.now(UTC))
    try:
        check_requested_tier(documents.tier, current_tier=current, offered=state.settings.kyc.tier_limits.keys())
    except (TierNotOffered, TierBelowCurrent) as exc:
        raise InvalidField(exc.code, exc.field, str(exc)) from None
    record_id = uuid.uuid4()
    cipher = cipher_for(state)
    record = KycRecord(
        id=record_id,
        user_id=user.id,
        tier=documents.tier,
        status=KycStatus.PENDING.value,
        verification_data=cipher.encrypt(documents.document, record_id=str(record_id)),
        encryption_key_id=cipher.active_key_id,
        jurisdiction=documents.country,
        workflow_id=kyc_workflow_id(user.id, record_id),
    )
    try:
        async with session.begin_nested():
            session.add(record)
            await session.flush()
    except IntegrityError:
        raise await _already_pending(session, state, user.id) from None
    record_audit(
        session, action="kyc.submitted", resource_type="kyc_record", resource_id=record_id, actor_id=user.id,
        new_values={"tier": documents.tier, "document_type": documents.document_type},
        ip_address=actor.ip_address, user_agent=actor.user_agent,
    )
    await session.commit()  # the workflow reads the record: it must be visible before the start
    await _start_workflow(state, record)
    return record


async def _already_pending(session: AsyncSession, state: AppState, user_id: uuid.UUID) -> Conflict:
    """``kyc_already_pending``, saying how to complete the pending record when it lacks a field.

    The pending record's workflow is started first if it does not run (its own start failed
    after the commit); Temporal being down still answers the conflict, and a later submission
    tries again.
    """
    pending = await kyc_q.latest_record(session, user_id=user_id)
    if pending is not None and pending.status == KycStatus.PENDING.value:
        try:
            await _start_workflow(state, pending)
        except TemporalUnavailable:
            log.warning("KYC record %s: its workflow could not be started; the next submission retries", pending.id)
    missing = missing_fields(_facts(pending))
    if pending is not None and missing:
        return Conflict(
            f"your pending submission lacks {', '.join(missing)}: add it with PUT /api/kyc/records/{pending.id}",
            code="kyc_already_pending", extra={"record_id": str(pending.id), "missing_fields": list(missing)},
        )
    return Conflict("a KYC submission is already pending; wait for its decision", code="kyc_already_pending")


async def _start_workflow(state: AppState, record: KycRecord) -> None:
    """Make sure the record's approval workflow runs (a closed run is never started again).

    Raises:
        TemporalUnavailable.
    """
    inp = kyc_workflow_input(record, validity_days=state.settings.kyc.approval_validity_days)
    task_queue = state.settings.temporal.task_queue
    await state.temporal.call(lambda client: start_kyc_approval(client, inp, task_queue=task_queue,
                                                                workflow_id=record.workflow_id))


async def status(session: AsyncSession, state: AppState, actor: Actor) -> KycStatusView:
    """The user's KYC status, effective tier, expiry and limits with usage."""
    now = datetime.now(UTC)
    user_id = actor.user.id
    latest = await kyc_q.latest_record(session, user_id=user_id)
    tier = await kyc_q.current_tier(session, user_id=user_id, now=now)
    policy = LimitPolicy.from_settings(state.settings.kyc)
    limits: dict[str, LimitView | None] = {}
    for op in LimitedOperation:
        usage = await get_usage(session, user_id=user_id, operation_type=op.value, now=now)
        limits[op.value] = view(policy, tier, usage) if tier >= policy.min_tier[op] else None
    facts = _facts(latest)
    return KycStatusView(
        status=latest.status if latest else "none",
        tier=tier,
        expires_at=latest.expires_at if latest and latest.status == KycStatus.APPROVED.value else None,
        record_id=latest.id if latest else None,
        limits=limits,
        missing_fields=list(missing_fields(facts)),
        action=next_action(facts, tier, now),
    )


async def update_record(
    session: AsyncSession, state: AppState, actor: Actor, record_id: uuid.UUID, *, country: str
) -> tuple[KycRecord, list[str]]:
    """Add a field a pending submission lacks (``country``), commit, then tell its workflow to go
    on; returns the record and what it still lacks.

    The change is committed before the workflow is signalled (its registration step reads the
    record). Repeating the request is harmless and signals again.

    Raises:
        NotFound: ``kyc_record_not_found`` (absent or not yours).
        Conflict: ``kyc_record_not_pending``.
        TemporalUnavailable: the change is saved; repeat the request to resume.
    """
    record = await kyc_q.get_record(session, record_id=record_id, for_update=True)
    if record is None or record.user_id != actor.user.id:
        raise NotFound("no such KYC record of yours", code="kyc_record_not_found")
    if record.status != KycStatus.PENDING.value:
        raise Conflict(f"the record is {record.status}; submit a new one instead", code="kyc_record_not_pending")
    cipher = cipher_for(state)
    document = cipher.decrypt(record.verification_data or {}, record_id=str(record.id))
    old_country = record.jurisdiction
    document["country"] = country
    record.verification_data = cipher.encrypt(document, record_id=str(record.id))
    record.encryption_key_id = cipher.active_key_id
    record.jurisdiction = country
    record.updated_at = datetime.now(UTC)
    record_audit(
        session, action="kyc.data_supplied", resource_type="kyc_record", resource_id=record.id,
        actor_id=actor.user.id, old_values={"country": old_country}, new_values={"country": country},
        ip_address=actor.ip_address, user_agent=actor.user_agent,
    )
    await session.commit()
    workflow_id = record.workflow_id or kyc_workflow_id(record.user_id, record.id)
    try:
        await state.temporal.signal(workflow_id, kyc_contract.DATA_SUPPLIED_SIGNAL,
                                    kyc_contract.DataSupplied(fields=[COUNTRY_FIELD]))
    except WorkflowNotRunning:
        pass
    except TemporalUnavailable as exc:
        raise TemporalUnavailable("your change is saved; repeat this request to resume the review") from exc
    return record, list(missing_fields(_facts(record)))


async def decide(
    session: AsyncSession, state: AppState, actor: Actor, record_id: uuid.UUID, decision: KycDecision
) -> str:
    """Hand an officer's decision to the record's workflow (Temporal update); return its stage.

    ``decision.officer_id`` must be the actor's id.

    Raises:
        NotFound: ``kyc_record_not_found``.
        SelfReview: ``self_review``.
        Conflict: ``illegal_kyc_transition`` (not pending) or ``not_awaiting_decision`` (still
            screening, or already decided).
        InvalidDecision: ``invalid_decision``.
        TemporalUnavailable.
    """
    record = await kyc_q.get_record(session, record_id=record_id)
    if record is None:
        raise NotFound("no such KYC record", code="kyc_record_not_found")
    validate_decision(decision, str(record.user_id))  # SelfReview, InvalidDecision (the workflow re-checks)
    if record.status != KycStatus.PENDING.value:
        raise Conflict(f"the record is {record.status}, not pending", code="illegal_kyc_transition")
    try:
        stage = await state.temporal.update(
            record.workflow_id or kyc_workflow_id(record.user_id, record.id), kyc_contract.DECIDE_UPDATE, decision,
            update_id=f"decision-{record.id}")
    except UpdateRefused as exc:
        raise Conflict("the record is not awaiting a decision", code="not_awaiting_decision") from exc
    except WorkflowNotRunning as exc:
        raise Conflict("the record's workflow is not running", code="not_awaiting_decision") from exc
    record_audit(
        session, action="kyc.decision_submitted", resource_type="kyc_record", resource_id=record.id,
        actor_id=actor.user.id, new_values={"decision": decision.decision.value, "reason": decision.reason},
        ip_address=actor.ip_address, user_agent=actor.user_agent,
    )
    return stage
