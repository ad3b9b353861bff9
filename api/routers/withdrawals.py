"""Withdrawals: a user's request and cancel (``/api/integration``), and operator approval,
rejection, payout view and external signature (``/api/admin/operations/{id}/...``).

Include this router *before* ``api.routers.operations``: its ``/admin/operations/{id}/{action}``
pattern would otherwise capture ``approve``/``reject``/``signed-psbt`` and answer 422.
"""

from __future__ import annotations

import uuid

from fastapi import APIRouter, status
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth.dependencies import AUTH_RESPONSES, ROLE_RESPONSES, OperatorAuth, RequestMetaDep, UserAuth, actor_of
from api.deps import IdempotencyKeyHeader, SessionDep, StateDep
from api.schemas.withdrawals import (
    CancelAccepted,
    DecisionIn,
    DecisionOut,
    PayoutOut,
    SignedPsbtAccepted,
    SignedPsbtIn,
    UserCancelIn,
    WithdrawalAccepted,
    WithdrawalRequest,
)
from domain.decisions import DecisionKind
from services import payouts, withdrawals
from services.actor import Actor
from services.state import AppState

router = APIRouter(tags=["withdrawals"])
_NOT_FOUND = {404: {"description": "operation_not_found (absent, not a withdrawal, or not yours)"}}
_UNAVAILABLE = {503: {"description": "temporal_unavailable"}}


@router.post(
    "/integration/token-withdrawal",
    status_code=status.HTTP_202_ACCEPTED,
    responses={
        **AUTH_RESPONSES,
        403: {"description": "insufficient_kyc_tier or limit_exceeded (with the limit)"},
        409: {"description": "allowance_required (spender, amount), insufficient_balance, stellar_address_required, "
                             "idempotency_key_reused"},
        422: {"description": "amount_below_minimum, invalid_token_address, invalid or wrong-network btc_address"},
        503: {"description": "system_paused, soroban_unavailable, temporal_unavailable"},
    },
)
async def request_withdrawal(
    body: WithdrawalRequest, principal: UserAuth, session: SessionDep, state: StateDep, meta: RequestMetaDep,
    idempotency_key: IdempotencyKeyHeader = None,
) -> WithdrawalAccepted:
    """Redeem iSTSi for BTC: the amount is held now, burned and paid out by the workflow."""
    order = withdrawals.WithdrawalOrder(body.token_amount, body.btc_address, body.token_address, body.priority)
    op = await withdrawals.request(session, state, actor_of(principal, meta), order, idempotency_key)
    return WithdrawalAccepted.of(op)


@router.post(
    "/integration/operations/{operation_id}/cancel",
    status_code=status.HTTP_202_ACCEPTED,
    responses={**AUTH_RESPONSES, **_NOT_FOUND, 409: {"description": "not_cancellable (burn started or finished)"},
               **_UNAVAILABLE},
)
async def cancel_withdrawal(
    operation_id: uuid.UUID, principal: UserAuth, session: SessionDep, state: StateDep, meta: RequestMetaDep,
    body: UserCancelIn | None = None,
) -> CancelAccepted:
    """Cancel one's own withdrawal before the burn; the hold is released."""
    stage = await withdrawals.cancel(session, state, actor_of(principal, meta), operation_id, body.reason if body else "")
    return CancelAccepted(operation_id=operation_id, stage=stage)


_DECISION_RESPONSES = {
    **ROLE_RESPONSES, **_NOT_FOUND, **_UNAVAILABLE,
    403: {"description": "forbidden (role) or self_approval"},
    409: {"description": "not_awaiting_approval"},
    422: {"description": "validation_error (a reason is required)"},
}


@router.post("/admin/operations/{operation_id}/approve", status_code=status.HTTP_202_ACCEPTED,
             responses=_DECISION_RESPONSES)
async def approve_withdrawal(
    operation_id: uuid.UUID, body: DecisionIn, operator: OperatorAuth, session: SessionDep, state: StateDep,
    meta: RequestMetaDep,
) -> DecisionOut:
    """Approve a withdrawal awaiting approval (not one's own)."""
    return await _decide(session, state, actor_of(operator, meta), operation_id, DecisionKind.APPROVE, body)


@router.post("/admin/operations/{operation_id}/reject", status_code=status.HTTP_202_ACCEPTED,
             responses=_DECISION_RESPONSES)
async def reject_withdrawal(
    operation_id: uuid.UUID, body: DecisionIn, operator: OperatorAuth, session: SessionDep, state: StateDep,
    meta: RequestMetaDep,
) -> DecisionOut:
    """Reject a withdrawal awaiting approval; its hold is released, nothing is burned."""
    return await _decide(session, state, actor_of(operator, meta), operation_id, DecisionKind.REJECT, body)


async def _decide(
    session: AsyncSession, state: AppState, actor: Actor, operation_id: uuid.UUID, kind: DecisionKind,
    body: DecisionIn,
) -> DecisionOut:
    """Record an operator's decision on a withdrawal awaiting approval; answer the stage it was recorded in."""
    stage = await withdrawals.decide(session, state, actor, operation_id, kind, body.reason)
    return DecisionOut(operation_id=operation_id, decision=kind.value, stage=stage)


@router.get("/admin/operations/{operation_id}/payout", responses={**ROLE_RESPONSES, **_NOT_FOUND})
async def get_payout(operation_id: uuid.UUID, operator: OperatorAuth, session: SessionDep) -> PayoutOut:
    """The withdrawal's payout: its batch's PSBT (to sign), txid, its output, fee share and status."""
    return PayoutOut.of(operation_id, await payouts.of_withdrawal(session, operation_id))


@router.post(
    "/admin/operations/{operation_id}/signed-psbt",
    status_code=status.HTTP_202_ACCEPTED,
    responses={**ROLE_RESPONSES, **_NOT_FOUND, **_UNAVAILABLE,
               409: {"description": "not_awaiting_signature, duplicate_signature, signer_already_signed"},
               422: {"description": "invalid_signed_psbt (other inputs/outputs, foreign, missing or bad signatures)"}},
)
async def submit_signed_psbt(
    operation_id: uuid.UUID, body: SignedPsbtIn, operator: OperatorAuth, session: SessionDep, state: StateDep,
) -> SignedPsbtAccepted:
    """An external signer's PSBT for this withdrawal's payout (its batch's); checked and merged,
    broadcast once the quorum signed (``POST /api/admin/payouts/{id}/signatures`` says more)."""
    txid = await withdrawals.submit_signed_psbt(session, state, Actor(operator.user), operation_id, body.psbt)
    return SignedPsbtAccepted(operation_id=operation_id, txid=txid)
