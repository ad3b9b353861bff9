"""Withdrawal requests from the API: validate, hold the amount, record, start the workflow; pass
operator decisions, user cancels and signed PSBTs to the running workflow.

A request runs in the request's transaction: limits (advisory lock per user), the balance row
lock, the available-balance check and hold, the ``operations`` row and its audit row, then the
start of ``withdrawal-<operation id>``. If Temporal is down the transaction rolls back (503): no
hold is left without a workflow. The API moves no money: the burn and the payout are the
workflow's.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import WorkflowUpdateFailedError
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.service import RPCError, RPCStatusCode

from activities.withdrawal_types import INVALID_SIGNED_PSBT, SignedPsbtInput, WithdrawalInput
from api.auth.dependencies import Principal, RequestMeta
from api.errors import ApiError
from api.schemas.withdrawals import WithdrawalRequest
from api.state import AppState
from api.temporal import TemporalUnavailable
from api.withdrawal_allowance import router_allowance
from chains.soroban.errors import SorobanError
from contracts.workflow_ids import withdrawal_workflow_id
from db.audit import record_audit
from db.models import Operation
from db.queries import custody, kyc, operations, system_state
from db.queries import payouts as pq
from db.queries import withdrawals as wq
from db.queries.limits import check_and_hold, usage_entries
from domain.bitcoin_address import parse_address
from domain.limits import DAILY_WINDOW, MONTHLY_WINDOW, InsufficientTier, LimitedOperation, LimitExceeded, LimitPolicy
from domain.operations import OperationStage, OperationType
from domain.user_waits import kyc_action, lowest_tier_for, window_frees_at
from domain.withdrawals import (
    ApprovalDecision,
    DecisionKind,
    InsufficientBalance,
    UserCancel,
    check_request,
)
from workflows import search_attributes as sa
from workflows.withdrawal import WithdrawalWorkflow

_UNAVAILABLE = ("temporal_unavailable", "the workflow service is unavailable; try again")


async def request(
    session: AsyncSession, state: AppState, principal: Principal, meta: RequestMeta, body: WithdrawalRequest,
    client_key: str | None,
) -> Operation:
    """Record a withdrawal with its hold and start its workflow; a repeated ``Idempotency-Key``
    answers the operation it created.

    Raises:
        ApiError: 409 ``stellar_address_required``, ``allowance_required`` (with ``spender`` and
            ``amount``), ``insufficient_balance``, ``idempotency_key_reused``; 403
            ``insufficient_kyc_tier`` / ``limit_exceeded`` (with the limit); 503 ``system_paused``,
            ``soroban_unavailable``, ``temporal_unavailable``.
        DomainError: 422 ``amount_below_minimum``, ``invalid_token_address``, address codes;
            ApiError 422 ``custody_address`` (the destination is one of the custody wallet's own).
    """
    settings, user = state.settings, principal.user
    key = f"withdrawal:{user.id}:{client_key}" if client_key else None
    if key is not None and (existing := await operations.get_by_idempotency_key(session, idempotency_key=key)):
        return existing
    token = settings.soroban.contracts.istsi_token
    check_request(amount_sats=body.token_amount, minimum_sats=settings.withdrawals.minimum_sats,
                  token_address=body.token_address, istsi_token=token)
    if body.priority == "asap" and not settings.withdrawals.asap_allowed:
        raise ApiError(422, "asap_not_offered", "withdrawals are paid in batches only; leave priority as batch",
                       extra={"field": "priority"})
    address = parse_address(body.btc_address, settings.bitcoin.network).address
    if await custody.is_custody_address(session, address):
        raise ApiError(422, "custody_address", "this address belongs to the custody wallet itself: paying it out "
                       "would only cost you the network fee; withdraw to an address of your own wallet",
                       extra={"field": "btc_address"})
    (await system_state.get_pause(session)).check_withdrawals()
    if not user.stellar_address:
        raise ApiError(409, "stellar_address_required", "set a Stellar address on your profile first")
    await _check_allowance(state, user.stellar_address, body.token_amount)
    now = datetime.now(UTC)
    try:
        await check_and_hold(
            session, policy=LimitPolicy.from_settings(settings.kyc), operation=LimitedOperation.WITHDRAWAL,
            user_id=user.id, tier=await kyc.current_tier(session, user_id=user.id, now=now),
            amount_sats=body.token_amount, now=now,
        )
    except InsufficientTier as exc:
        raise await _kyc_refusal(session, state, user.id, body.token_amount, exc, now) from exc
    except LimitExceeded as exc:
        raise await _limit_refusal(session, state, user.id, body.token_amount, exc, now) from exc
    # Under the user's locks a concurrent duplicate has committed: answer its operation.
    if key is not None and (existing := await operations.get_by_idempotency_key(session, idempotency_key=key)):
        return existing
    operation_id = uuid.uuid4()
    new = wq.NewWithdrawal(
        operation_id=operation_id, user_id=user.id, amount_sats=body.token_amount, btc_address=address,
        stellar_address=user.stellar_address, token_address=token,
        idempotency_key=key or f"withdrawal:{operation_id}", workflow_id=withdrawal_workflow_id(operation_id),
        payout_priority=body.priority,
    )
    try:
        async with session.begin_nested():
            op = await wq.insert_with_hold(session, new)
    except InsufficientBalance as exc:
        raise ApiError(409, exc.code, str(exc)) from exc
    except IntegrityError as exc:
        raise ApiError(409, "idempotency_key_reused", "this Idempotency-Key was used for another operation") from exc
    record_audit(
        session, action="withdrawal.requested", resource_type="operation", resource_id=op.id, actor_id=user.id,
        new_values={"amount": body.token_amount, "btc_address": address, "reserved": body.token_amount},
        ip_address=meta.ip_address, user_agent=meta.user_agent,
    )
    await _start(state, op)
    return op


async def _kyc_refusal(
    session: AsyncSession, state: AppState, user_id: uuid.UUID, amount_sats: int, exc: InsufficientTier, now: datetime,
) -> ApiError:
    """403 ``insufficient_kyc_tier`` that says what the user must do (renew an expired KYC, wait
    for a review, submit a higher tier); nothing is held and no operator is involved."""
    policy = LimitPolicy.from_settings(state.settings.kyc)
    snapshot = await kyc.snapshot(session, user_id=user_id, now=now)
    needed = lowest_tier_for(policy, LimitedOperation.WITHDRAWAL, amount_sats) or exc.required
    reason, words = kyc_action(
        policy, LimitedOperation.WITHDRAWAL, amount_sats, snapshot, max(needed, exc.required), now,
        then=", then request the withdrawal again",
    )
    return ApiError(403, exc.code, words, extra={"required_tier": exc.required, "tier": exc.tier, "kyc": reason.value})


async def _limit_refusal(
    session: AsyncSession, state: AppState, user_id: uuid.UUID, amount_sats: int, exc: LimitExceeded, now: datetime,
) -> ApiError:
    """403 ``limit_exceeded`` that says what the user can do: how much fits now and when the
    rolling window takes the full amount, or which tier a single withdrawal this large needs."""
    extra: dict[str, Any] = {"limit": exc.limit, "limit_sats": exc.limit_sats, "used_sats": exc.used_sats}
    policy = LimitPolicy.from_settings(state.settings.kyc)
    if exc.limit == "single":
        needed = lowest_tier_for(policy, LimitedOperation.WITHDRAWAL, amount_sats)
        more = f"submit KYC for tier {needed} (POST /api/kyc/submit)" if needed else "no tier allows it in one go"
        return ApiError(403, exc.code, f"{exc}: withdraw at most {exc.limit_sats} sats at once, or {more}", extra=extra)
    window = DAILY_WINDOW if exc.limit == "daily" else MONTHLY_WINDOW
    entries = await usage_entries(session, user_id=user_id, operation_type=LimitedOperation.WITHDRAWAL.value, now=now)
    frees_at = window_frees_at(entries, window=window, limit_sats=exc.limit_sats, amount_sats=amount_sats, now=now)
    room = max(0, exc.limit_sats - exc.used_sats)
    when = f", or the full amount from {frees_at.isoformat(timespec='seconds')}" if frees_at else ""
    extra["available_sats"] = room
    if frees_at is not None:
        extra["retry_at"] = frees_at.isoformat()
    return ApiError(403, exc.code, f"{exc}: withdraw up to {room} sats now{when}", extra=extra)


async def _check_allowance(state: AppState, owner: str, amount_sats: int) -> None:
    try:
        allowance = await router_allowance(state.stellar_rpc, state.settings.soroban, owner=owner)
    except SorobanError as exc:
        raise ApiError(503, "soroban_unavailable", "cannot read the token allowance; try again") from exc
    if allowance < amount_sats:
        router = state.settings.soroban.contracts.integration_router
        raise ApiError(
            409, "allowance_required",
            f"approve the router {router} as spender of at least {amount_sats} iSTSi base units (SEP-41 approve)",
            extra={"spender": router, "amount": amount_sats, "allowance": allowance},
        )


async def _start(state: AppState, op: Operation) -> None:
    try:
        client = await state.temporal.client()
        await client.start_workflow(
            WithdrawalWorkflow.run, WithdrawalInput(str(op.id), str(op.user_id), op.amount or 0),
            id=op.workflow_id or withdrawal_workflow_id(op.id), task_queue=state.settings.temporal.task_queue,
            search_attributes=TypedSearchAttributes([
                SearchAttributePair(sa.OPERATION_TYPE, OperationType.WITHDRAWAL.value),
                SearchAttributePair(sa.STAGE, OperationStage.RECEIVED.value),
                SearchAttributePair(sa.USER_ID, str(op.user_id)),
                SearchAttributePair(sa.AMOUNT_SATS, op.amount or 0),
            ]),
        )
    except (TemporalUnavailable, RPCError) as exc:
        raise ApiError(503, *_UNAVAILABLE) from exc


async def _withdrawal(session: AsyncSession, operation_id: uuid.UUID, *, user_id: uuid.UUID | None = None) -> Operation:
    op = await operations.get_by_id(session, operation_id=operation_id)
    if op is None or op.operation_type != OperationType.WITHDRAWAL.value or (user_id and op.user_id != user_id):
        raise ApiError(404, "operation_not_found", "no such withdrawal")
    return op


async def _update(state: AppState, op: Operation, update: Any, arg: Any, *, update_id: str, refused: str) -> Any:
    """Run a workflow update; refused by its validator → 409 ``refused``; a PSBT the check refused → 422."""
    try:
        handle = (await state.temporal.client()).get_workflow_handle(op.workflow_id or withdrawal_workflow_id(op.id))
        return await handle.execute_update(update, arg, id=update_id)
    except WorkflowUpdateFailedError as exc:
        if getattr(exc.cause, "type", None) == INVALID_SIGNED_PSBT:  # the update ran; the check refused
            raise ApiError(422, INVALID_SIGNED_PSBT, str(getattr(exc.cause, "message", exc.cause))) from exc
        raise ApiError(409, refused, str(getattr(exc.cause, "message", "") or refused)) from exc
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise ApiError(409, refused, "the withdrawal's workflow is not running") from exc
        raise ApiError(503, *_UNAVAILABLE) from exc
    except TemporalUnavailable as exc:
        raise ApiError(503, *_UNAVAILABLE) from exc


async def decide(
    session: AsyncSession, state: AppState, principal: Principal, meta: RequestMeta, operation_id: uuid.UUID,
    kind: DecisionKind, reason: str,
) -> str:
    """Approve or reject a withdrawal awaiting approval; returns the workflow's stage.

    Raises:
        ApiError: 404 ``operation_not_found``; 403 ``self_approval``; 409 ``not_awaiting_approval``.
    """
    op = await _withdrawal(session, operation_id)
    if op.user_id == principal.user.id:
        raise ApiError(403, "self_approval", "an operator cannot decide their own withdrawal")
    decision = ApprovalDecision(kind, approver_id=str(principal.user.id), reason=reason)
    stage = await _update(state, op, WithdrawalWorkflow.decide, decision, update_id=f"{kind.value}-{op.id}",
                          refused="not_awaiting_approval")
    record_audit(
        session, action=f"withdrawal.{kind.value}_submitted", resource_type="operation", resource_id=op.id,
        actor_id=principal.user.id, new_values={"decision": kind.value, "reason": reason},
        ip_address=meta.ip_address, user_agent=meta.user_agent,
    )
    return stage


async def cancel(
    session: AsyncSession, state: AppState, principal: Principal, meta: RequestMeta, operation_id: uuid.UUID, reason: str
) -> str:
    """The requester cancels before the burn (404 when not theirs, 409 ``not_cancellable``)."""
    op = await _withdrawal(session, operation_id, user_id=principal.user.id)
    stage = await _update(state, op, WithdrawalWorkflow.cancel_by_user, UserCancel(str(principal.user.id), reason),
                          update_id=f"user-cancel-{op.id}", refused="not_cancellable")
    record_audit(
        session, action="withdrawal.cancel_requested", resource_type="operation", resource_id=op.id,
        actor_id=principal.user.id, new_values={"reason": reason, "stage": stage},
        ip_address=meta.ip_address, user_agent=meta.user_agent,
    )
    return stage


async def submit_signed_psbt(
    session: AsyncSession, state: AppState, principal: Principal, operation_id: uuid.UUID, psbt: str
) -> str:
    """Hand an externally signed PSBT for this withdrawal's payout to the workflow that collects
    its signatures (the batch's ``PayoutWorkflow``; the withdrawal's own before batches);
    returns the payout txid.

    Raises:
        ApiError: 404; 409 ``not_awaiting_signature``, ``duplicate_signature``,
            ``signer_already_signed``; 422 ``invalid_signed_psbt``.
    """
    from api import payout_flow
    from api.schemas.payouts import SignaturesIn

    op = await _withdrawal(session, operation_id)
    item = await pq.item_of(session, operation_id=op.id)
    payout = await pq.get(session, item.payout_id) if item is not None and item.payout_id else None
    if payout is None:
        raise ApiError(409, "not_awaiting_signature", "this withdrawal's payout is not built yet")
    if payout.operation_id is None:  # a batch: its PayoutWorkflow takes the signatures
        accepted = await payout_flow.submit_signatures(session, state, principal, payout.id, SignaturesIn(psbt=psbt))
        return accepted.txid
    return await _update(state, op, WithdrawalWorkflow.submit_signed_psbt,
                         SignedPsbtInput(str(op.id), psbt, str(principal.user.id)),
                         update_id=f"signed-psbt-{op.id}-{uuid.uuid4().hex[:8]}", refused="not_awaiting_signature")
