"""Withdrawals: validate, hold the amount, record, commit, then start the workflow; pass operator
decisions, user cancels and signed PSBTs to the running workflow.

A request runs in the request's transaction: limits (advisory lock per user), the balance row
lock, the available-balance check and hold, the ``operations`` row and its audit row. It is
committed *before* ``withdrawal-<operation id>`` starts, so no workflow ever runs without its
row. If the start fails (Temporal down) the row and its hold stay (503): a retry with the same
``Idempotency-Key`` finds the row and starts the workflow, once (the id is deterministic and a
running or closed run is never started twice). A request without a key cannot be retried: its
row stays at stage ``received`` with its hold, and the 503 names it (``operation_id``). The API
moves no money: the burn and the payout are the workflow's.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from contracts import withdrawals as withdrawal_contract
from contracts.starters import start_withdrawal
from contracts.withdrawals import INVALID_SIGNED_PSBT, SignedPsbtInput, withdrawal_workflow_input
from contracts.workflow_ids import withdrawal_workflow_id
from db.audit import record_audit
from db.models import Operation
from db.queries import custody, kyc, operations, system_state
from db.queries import payouts as pq
from db.queries import withdrawals as wq
from db.queries.limits import check_and_hold, usage_entries
from domain.bitcoin_address import Network, parse_address
from domain.errors import Conflict, NotFound, Refused
from domain.limits import DAILY_WINDOW, MONTHLY_WINDOW, InsufficientTier, LimitedOperation, LimitExceeded, LimitPolicy
from domain.operations import OperationStatus, OperationType
from domain.user_waits import kyc_action, lowest_tier_for, window_frees_at
from domain.withdrawals import (
    ApprovalDecision,
    DecisionKind,
    PayoutPriority,
    UserCancel,
    check_request,
)
from services.actor import Actor
from services.state import AppState
from services.temporal_gateway import (
    TemporalUnavailable,
    UpdateRefused,
    WorkflowNotRunning,
)
from services.tokens import router_allowance

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WithdrawalOrder:
    """What a user asks to withdraw: ``amount_sats`` iSTSi base units (= sats) to ``btc_address``.

    ``token_address``: must be the configured iSTSi contract when given; ``priority``: ``batch``
    (the next batch) or ``asap`` (a payout of its own).
    """

    amount_sats: int
    btc_address: str
    token_address: str | None = None
    priority: PayoutPriority = PayoutPriority.BATCH


async def request(
    session: AsyncSession, state: AppState, actor: Actor, order: WithdrawalOrder, client_key: str | None
) -> Operation:
    """Record a withdrawal with its hold, commit, and start its workflow; a repeated
    ``Idempotency-Key`` answers the operation it created (and starts its workflow if an earlier
    start failed).

    Raises:
        Conflict: ``stellar_address_required``, ``allowance_required`` (with ``spender``,
            ``amount`` and ``allowance``), ``insufficient_balance``, ``idempotency_key_reused``.
        Refused: ``insufficient_kyc_tier`` / ``limit_exceeded`` (with the limit),
            ``asap_not_offered`` / ``custody_address`` (with ``field``).
        Unavailable: ``soroban_unavailable``; ``temporal_unavailable`` for a request with an
            ``Idempotency-Key`` (recorded and held: retry with the same key). Without a key the
            recorded withdrawal is returned instead (a retry would be a second withdrawal) and
            the scheduled scan's heal starts its workflow.
        BelowMinimum (``amount_below_minimum``), WrongToken, address errors, SystemPaused.
    """
    key = f"withdrawal:{actor.user.id}:{client_key}" if client_key else None
    if key is not None and (existing := await operations.get_by_idempotency_key(session, idempotency_key=key)):
        _check_same_request(existing, order, state.settings.bitcoin.network)
        await _start(state, existing)  # a retry heals a start that failed after the commit
        return existing
    op = await _record(session, state, actor, order, key)
    await session.commit()  # the workflow reads the row: it must be visible before the start
    try:
        await _start(state, op)  # a concurrent duplicate's row: starting it again changes nothing
    except TemporalUnavailable:
        if key is not None:
            raise  # the client's retry with its key starts it
        # Sent without a key, a retry would be a second withdrawal: the recorded one is accepted
        # and the scheduled scan's heal starts its workflow once the workflow service is back.
        log.warning("withdrawal %s recorded; its workflow starts with the next scan", op.id)
    return op


def _check_same_request(existing: Operation, order: WithdrawalOrder, network: Network) -> None:
    """A retry under an ``Idempotency-Key`` must repeat its request: the same amount (sats) to the
    same address. Answering another request with the first one's operation would tell the client
    a withdrawal it did not get.

    Raises:
        Conflict: ``idempotency_key_reused``.
    """
    address = parse_address(order.btc_address, network).address
    if existing.amount != order.amount_sats or (existing.meta or {}).get("btc_address") != address:
        raise Conflict("this Idempotency-Key was used for another withdrawal (amount or address differ)",
                       code="idempotency_key_reused")


async def _record(
    session: AsyncSession, state: AppState, actor: Actor, order: WithdrawalOrder, key: str | None
) -> Operation:
    """Check the request, hold the amount and insert the operation with its audit row (uncommitted);
    the operation a concurrent duplicate committed when there is one.

    Raises:
        InsufficientBalance: the available balance cannot cover the amount (nothing is held).
        The other errors of :func:`request` but ``temporal_unavailable``.
    """
    settings, user = state.settings, actor.user
    token = settings.soroban.contracts.istsi_token
    check_request(amount_sats=order.amount_sats, minimum_sats=settings.withdrawals.minimum_sats,
                  token_address=order.token_address, istsi_token=token)
    if order.priority == PayoutPriority.ASAP and not settings.withdrawals.asap_allowed:
        raise Refused("withdrawals are paid in batches only; leave priority as batch", code="asap_not_offered",
                      extra={"field": "priority"})
    address = parse_address(order.btc_address, settings.bitcoin.network).address
    if await custody.is_custody_address(session, address):
        raise Refused("this address belongs to the custody wallet itself: paying it out would only cost you the "
                      "network fee; withdraw to an address of your own wallet", code="custody_address",
                      extra={"field": "btc_address"})
    (await system_state.get_pause(session)).check_withdrawals()
    if not user.stellar_address:
        raise Conflict("set a Stellar address on your profile first", code="stellar_address_required")
    await _check_allowance(state, user.stellar_address, order.amount_sats)
    now = datetime.now(UTC)
    try:
        await check_and_hold(
            session, policy=LimitPolicy.from_settings(settings.kyc), operation=LimitedOperation.WITHDRAWAL,
            user_id=user.id, tier=await kyc.current_tier(session, user_id=user.id, now=now),
            amount_sats=order.amount_sats, now=now,
        )
    except InsufficientTier as exc:
        raise await _kyc_refusal(session, state, user.id, order.amount_sats, exc, now) from exc
    except LimitExceeded as exc:
        raise await _limit_refusal(session, state, user.id, order.amount_sats, exc, now) from exc
    # Under the user's locks a concurrent duplicate has committed: answer its operation.
    if key is not None and (existing := await operations.get_by_idempotency_key(session, idempotency_key=key)):
        _check_same_request(existing, order, settings.bitcoin.network)
        return existing
    operation_id = uuid.uuid4()
    new = wq.NewWithdrawal(
        operation_id=operation_id, user_id=user.id, amount_sats=order.amount_sats, btc_address=address,
        stellar_address=user.stellar_address, token_address=token,
        idempotency_key=key or f"withdrawal:{operation_id}", workflow_id=withdrawal_workflow_id(operation_id),
        payout_priority=order.priority,
    )
    try:
        async with session.begin_nested():
            op = await wq.insert_with_hold(session, new)
    except IntegrityError as exc:
        raise Conflict("this Idempotency-Key was used for another operation", code="idempotency_key_reused") from exc
    record_audit(
        session, action="withdrawal.requested", resource_type="operation", resource_id=op.id, actor_id=user.id,
        new_values={"amount": order.amount_sats, "btc_address": address, "reserved": order.amount_sats},
        ip_address=actor.ip_address, user_agent=actor.user_agent,
    )
    return op


async def _kyc_refusal(
    session: AsyncSession, state: AppState, user_id: uuid.UUID, amount_sats: int, exc: InsufficientTier, now: datetime,
) -> Refused:
    """``insufficient_kyc_tier`` that says what the user must do (renew an expired KYC, wait for a
    review, submit a higher tier); nothing is held and no operator is involved."""
    policy = LimitPolicy.from_settings(state.settings.kyc)
    snapshot = await kyc.snapshot(session, user_id=user_id, now=now)
    needed = lowest_tier_for(policy, LimitedOperation.WITHDRAWAL, amount_sats) or exc.required
    reason, words = kyc_action(
        policy, LimitedOperation.WITHDRAWAL, amount_sats, snapshot, max(needed, exc.required), now,
        then=", then request the withdrawal again",
    )
    return Refused(words, code=exc.code, extra={"required_tier": exc.required, "tier": exc.tier, "kyc": reason.value})


async def _limit_refusal(
    session: AsyncSession, state: AppState, user_id: uuid.UUID, amount_sats: int, exc: LimitExceeded, now: datetime,
) -> Refused:
    """``limit_exceeded`` that says what the user can do: how much fits now and when the rolling
    window takes the full amount, or which tier a single withdrawal this large needs."""
    extra: dict[str, Any] = {"limit": exc.limit, "limit_sats": exc.limit_sats, "used_sats": exc.used_sats}
    policy = LimitPolicy.from_settings(state.settings.kyc)
    if exc.limit == "single":
        needed = lowest_tier_for(policy, LimitedOperation.WITHDRAWAL, amount_sats)
        more = f"submit KYC for tier {needed} (POST /api/kyc/submit)" if needed else "no tier allows it in one go"
        return Refused(f"{exc}: withdraw at most {exc.limit_sats} sats at once, or {more}", code=exc.code, extra=extra)
    window = DAILY_WINDOW if exc.limit == "daily" else MONTHLY_WINDOW
    entries = await usage_entries(session, user_id=user_id, operation_type=LimitedOperation.WITHDRAWAL.value, now=now)
    frees_at = window_frees_at(entries, window=window, limit_sats=exc.limit_sats, amount_sats=amount_sats, now=now)
    room = max(0, exc.limit_sats - exc.used_sats)
    when = f", or the full amount from {frees_at.isoformat(timespec='seconds')}" if frees_at else ""
    extra["available_sats"] = room
    if frees_at is not None:
        extra["retry_at"] = frees_at.isoformat()
    return Refused(f"{exc}: withdraw up to {room} sats now{when}", code=exc.code, extra=extra)


async def _check_allowance(state: AppState, owner: str, amount_sats: int) -> None:
    allowance = await router_allowance(state, owner)
    if allowance < amount_sats:
        router = state.settings.soroban.contracts.integration_router
        raise Conflict(
            f"approve the router {router} as spender of at least {amount_sats} iSTSi base units (SEP-41 approve)",
            code="allowance_required", extra={"spender": router, "amount": amount_sats, "allowance": allowance},
        )


async def _start(state: AppState, op: Operation) -> None:
    """Make sure the recorded withdrawal's workflow runs (no-op for a final one, or one whose run
    has closed: a withdrawal's workflow runs once).

    Raises:
        TemporalUnavailable: the row and its hold stay; a retry with the same key starts it, and
            the scheduled deposit scan's heal starts one sent without a key.
    """
    if op.operation_type != OperationType.WITHDRAWAL.value or OperationStatus(op.status).is_final:
        return
    inp = withdrawal_workflow_input(op)
    task_queue = state.settings.temporal.task_queue
    try:
        await state.temporal.call(lambda client: start_withdrawal(client, inp, task_queue=task_queue,
                                                                  workflow_id=op.workflow_id))
    except TemporalUnavailable as exc:
        keyed = op.idempotency_key != f"withdrawal:{op.id}"  # the key of a request sent without one
        resume = ("repeat the request with the same Idempotency-Key to go on" if keyed else
                  "the engine's scheduled scan starts it once the workflow service is back")
        error = TemporalUnavailable(
            f"the workflow service is unavailable; withdrawal {op.id} is recorded and its amount held: {resume}")
        error.extra["operation_id"] = str(op.id)
        raise error from exc


async def _withdrawal(session: AsyncSession, operation_id: uuid.UUID, *, user_id: uuid.UUID | None = None) -> Operation:
    op = await operations.get_by_id(session, operation_id=operation_id)
    if op is None or op.operation_type != OperationType.WITHDRAWAL.value or (user_id and op.user_id != user_id):
        raise NotFound("no such withdrawal", code="operation_not_found")
    return op


async def _update(state: AppState, op: Operation, update: Any, arg: Any, *, update_id: str, refused: str) -> Any:
    """Run a workflow update; refused by its validator, or no workflow running → Conflict ``refused``;
    a PSBT the check refused → Refused ``invalid_signed_psbt``."""
    try:
        return await state.temporal.update(op.workflow_id or withdrawal_workflow_id(op.id), update, arg,
                                           update_id=update_id)
    except UpdateRefused as exc:
        if exc.failure_type == INVALID_SIGNED_PSBT:  # the update ran; the check refused
            raise Refused(exc.failure_message, code=INVALID_SIGNED_PSBT) from exc
        raise Conflict(exc.failure_message or refused, code=refused) from exc
    except WorkflowNotRunning as exc:
        raise Conflict("the withdrawal's workflow is not running", code=refused) from exc


async def decide(
    session: AsyncSession, state: AppState, actor: Actor, operation_id: uuid.UUID, kind: DecisionKind, reason: str,
) -> str:
    """Approve or reject a withdrawal awaiting approval; returns the workflow's stage.

    Raises:
        NotFound: ``operation_not_found``.
        Refused: ``self_approval``.
        Conflict: ``not_awaiting_approval``.
        TemporalUnavailable: nothing was decided.
    """
    op = await _withdrawal(session, operation_id)
    if op.user_id == actor.user.id:
        raise Refused("an operator cannot decide their own withdrawal", code="self_approval")
    decision = ApprovalDecision(kind, approver_id=str(actor.user.id), reason=reason)
    stage = await _update(state, op, withdrawal_contract.DECIDE_UPDATE, decision, update_id=f"{kind.value}-{op.id}",
                          refused="not_awaiting_approval")
    record_audit(
        session, action=f"withdrawal.{kind.value}_submitted", resource_type="operation", resource_id=op.id,
        actor_id=actor.user.id, new_values={"decision": kind.value, "reason": reason},
        ip_address=actor.ip_address, user_agent=actor.user_agent,
    )
    return stage


async def cancel(session: AsyncSession, state: AppState, actor: Actor, operation_id: uuid.UUID, reason: str) -> str:
    """The requester cancels before the burn; returns the workflow's stage.

    Raises:
        NotFound: ``operation_not_found`` (absent or not theirs).
        Conflict: ``not_cancellable``.
        TemporalUnavailable: nothing was cancelled.
    """
    op = await _withdrawal(session, operation_id, user_id=actor.user.id)
    stage = await _update(state, op, withdrawal_contract.CANCEL_BY_USER_UPDATE, UserCancel(str(actor.user.id), reason),
                          update_id=f"user-cancel-{op.id}", refused="not_cancellable")
    record_audit(
        session, action="withdrawal.cancel_requested", resource_type="operation", resource_id=op.id,
        actor_id=actor.user.id, new_values={"reason": reason, "stage": stage},
        ip_address=actor.ip_address, user_agent=actor.user_agent,
    )
    return stage


async def submit_signed_psbt(session: AsyncSession, state: AppState, actor: Actor, operation_id: uuid.UUID,
                             psbt: str) -> str:
    """Hand an externally signed PSBT for this withdrawal's payout to the workflow that collects
    its signatures (the batch's ``PayoutWorkflow``; the withdrawal's own before batches);
    returns the payout txid.

    Raises:
        NotFound: ``operation_not_found``.
        Conflict: ``not_awaiting_signature``, ``duplicate_signature``, ``signer_already_signed``.
        Refused: ``invalid_signed_psbt``.
        TemporalUnavailable.
    """
    from services import payouts  # payouts imports nothing of withdrawals; imported here to keep it so

    op = await _withdrawal(session, operation_id)
    item = await pq.item_of(session, operation_id=op.id)
    payout = await pq.get(session, item.payout_id) if item is not None and item.payout_id else None
    if payout is None:
        raise Conflict("this withdrawal's payout is not built yet", code="not_awaiting_signature")
    if payout.operation_id is None:  # a batch: its PayoutWorkflow takes the signatures
        accepted = await payouts.submit_signatures(session, state, actor, payout.id, psbt=psbt)
        return accepted.txid
    return await _update(state, op, withdrawal_contract.SUBMIT_SIGNED_PSBT_UPDATE,
                         SignedPsbtInput(str(op.id), psbt, str(actor.user.id)),
                         update_id=f"signed-psbt-{op.id}-{uuid.uuid4().hex[:8]}", refused="not_awaiting_signature")
