"""``/api/admin/payouts`` and ``/api/admin/fee-reserve``: payouts for operators and external
signers (read, sign, bump) and the custodian's fee reserve (read, fund)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, status

from api.auth.dependencies import ROLE_RESPONSES, OperatorAuth, RequestMetaDep, actor_of
from api.deps import SessionDep, StateDep
from api.schemas.payouts import (
    BumpAccepted,
    BumpIn,
    FeeReserveOut,
    FundingIn,
    PayoutDetail,
    SignaturesAccepted,
    SignaturesIn,
)
from services import payouts
from services.actor import Actor

router = APIRouter(prefix="/admin", tags=["payouts"])
_NOT_FOUND = {404: {"description": "payout_not_found"}}
_UNAVAILABLE = {503: {"description": "temporal_unavailable"}}


@router.get("/payouts/{payout_id}", responses={**ROLE_RESPONSES, **_NOT_FOUND})
async def get_payout(payout_id: uuid.UUID, operator: OperatorAuth, session: SessionDep) -> PayoutDetail:
    """A payout: its versions (with the PSBT to sign while one awaits signatures) and withdrawals."""
    view = await payouts.detail(session, payout_id)
    return PayoutDetail.of(view.payout, view.versions, view.items)


@router.post(
    "/payouts/{payout_id}/signatures", status_code=status.HTTP_202_ACCEPTED,
    responses={**ROLE_RESPONSES, **_NOT_FOUND, **_UNAVAILABLE,
               409: {"description": "not_awaiting_signature, duplicate_signature, signer_already_signed"},
               422: {"description": "invalid_signed_psbt (reason: foreign_signature, invalid_signature, "
                                    "one_key_per_contribution, incomplete_contribution, psbt_mismatch, invalid_psbt)"}},
)
async def submit_signatures(
    payout_id: uuid.UUID, body: SignaturesIn, operator: OperatorAuth, session: SessionDep, state: StateDep,
) -> SignaturesAccepted:
    """One signer's partially signed PSBT (their key's signature on every input); the payout is
    finalized and broadcast once the quorum signed."""
    result = await payouts.submit_signatures(session, state, Actor(operator.user), payout_id, psbt=body.psbt,
                                             version=body.version)
    return SignaturesAccepted(payout_id=payout_id, version=result.version, signed_keys=result.signed_keys,
                              required=result.required, status=result.status, txid=result.txid)


@router.post(
    "/payouts/{payout_id}/bump", status_code=status.HTTP_202_ACCEPTED,
    responses={**ROLE_RESPONSES, **_NOT_FOUND, **_UNAVAILABLE, 409: {"description": "payout_settled, payout_not_broadcast"},
               422: {"description": "fee_rate_above_cap, validation_error"}},
)
async def bump_payout(
    payout_id: uuid.UUID, body: BumpIn, operator: OperatorAuth, session: SessionDep, state: StateDep,
    meta: RequestMetaDep,
) -> BumpAccepted:
    """Replace (RBF) or pay for (CPFP) a stuck payout now, at the estimate or the given rate."""
    ask = payouts.BumpRequest(body.reason, body.fee_rate_sat_vb, body.method)
    workflow_id = await payouts.bump(session, state, actor_of(operator, meta), payout_id, ask)
    return BumpAccepted(payout_id=payout_id, workflow_id=workflow_id)


@router.get("/fee-reserve", responses=ROLE_RESPONSES)
async def get_fee_reserve(operator: OperatorAuth, session: SessionDep) -> FeeReserveOut:
    """The custodian's fee reserve (what fee bumps are paid from)."""
    return _reserve_out(await payouts.fee_reserve(session))


@router.post(
    "/fee-reserve/fundings", status_code=status.HTTP_201_CREATED,
    responses={**ROLE_RESPONSES, 404: {"description": "outpoint_not_found"}, 409: {"description": "not_unattributed"}},
)
async def fund_fee_reserve(body: FundingIn, operator: OperatorAuth, session: SessionDep,
                           meta: RequestMetaDep) -> FeeReserveOut:
    """Assign the custodian's own BTC (a confirmed, unattributed custody output) to the fee reserve."""
    reserve = await payouts.fund_reserve(session, actor_of(operator, meta), outpoint=body.outpoint, reason=body.reason)
    return _reserve_out(reserve)


def _reserve_out(reserve: payouts.FeeReserve) -> FeeReserveOut:
    return FeeReserveOut(balance_sats=reserve.balance_sats, pending_sats=reserve.pending_sats,
                         available_sats=reserve.available_sats)
