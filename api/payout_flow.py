"""Operators and external signers on payouts: read a payout, hand a signer's partially signed PSBT
to its workflow, ask for a bump, fund the fee reserve.

Signatures go to ``PayoutWorkflow.submit_signatures`` (an update: its activity checks, merges
and, at the quorum, finalizes; the caller learns the outcome). A bump is the workflow's signal
``bump`` (started if its workflow is not running), audited here with the operator and reason.
Funding the reserve reassigns the custodian's own BTC (a confirmed, unattributed custody output)
in the books, in the request's transaction with its audit row; no BTC moves.
"""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import WorkflowUpdateFailedError
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.service import RPCError, RPCStatusCode

from activities import payout_types as pt
from activities.payout_batches import payout_workflow_id
from api.auth.dependencies import Principal, RequestMeta
from api.errors import ApiError
from api.schemas.payouts import (
    BumpAccepted,
    BumpIn,
    FeeReserveOut,
    FundingIn,
    PayoutDetail,
    SignaturesAccepted,
    SignaturesIn,
)
from api.state import AppState
from api.temporal import TemporalUnavailable
from db import ledger
from db.audit import record_audit
from db.models import Payout
from db.queries import custody
from db.queries import payouts as pq
from domain import entries as e
from domain.ledger import LedgerError
from domain.utxo_set import UtxoState
from workflows.payout import PayoutWorkflow

_UNAVAILABLE = ("temporal_unavailable", "the workflow service is unavailable; try again")
#: Refusals of a contribution: "already there" is a conflict, the rest invalid input.
_CONFLICT_CODES = {"duplicate_signature", "signer_already_signed"}


async def _payout(session: AsyncSession, payout_id: uuid.UUID) -> Payout:
    payout = await pq.get(session, payout_id)
    if payout is None:
        raise ApiError(404, "payout_not_found", "no such payout")
    return payout


async def detail(session: AsyncSession, payout_id: uuid.UUID) -> PayoutDetail:
    payout = await _payout(session, payout_id)
    versions = [(v, await pq.signatures_of(session, v.id)) for v in await pq.versions(session, payout.id)]
    return PayoutDetail.of(payout, versions, await pq.items_of(session, payout.id))


async def awaiting_version(session: AsyncSession, payout: Payout) -> int:
    """The version that awaits signatures (409 ``not_awaiting_signature`` when none)."""
    for v in await pq.versions(session, payout.id):
        if v.status == "awaiting_signature":
            return v.version
    raise ApiError(409, "not_awaiting_signature", "no version of this payout awaits signatures")


async def submit_signatures(session: AsyncSession, state: AppState, principal: Principal, payout_id: uuid.UUID,
                            body: SignaturesIn) -> SignaturesAccepted:
    """Hand a signer's PSBT to the payout's workflow and return what it made of it.

    Raises:
        ApiError: 404 ``payout_not_found``; 409 ``not_awaiting_signature``, ``duplicate_signature``,
            ``signer_already_signed``; 422 ``invalid_signed_psbt`` (``reason``: ``foreign_signature``,
            ``invalid_signature``, ``one_key_per_contribution``, ``incomplete_contribution``,
            ``psbt_mismatch``, ``invalid_psbt``); 503 ``temporal_unavailable``.
    """
    payout = await _payout(session, payout_id)
    version = body.version if body.version is not None else await awaiting_version(session, payout)
    inp = pt.SignaturesInput(str(payout.id), version, body.psbt, str(principal.user.id))
    try:
        handle = (await state.temporal.client()).get_workflow_handle(payout_workflow_id(payout.id))
        result: pt.SignaturesResult = await handle.execute_update(
            PayoutWorkflow.submit_signatures, inp, id=f"signatures-{payout.id}-{uuid.uuid4().hex[:8]}",
            result_type=pt.SignaturesResult)
    except WorkflowUpdateFailedError as exc:
        raise _refusal(exc) from exc
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise ApiError(409, "not_awaiting_signature", "the payout's workflow is not running") from exc
        raise ApiError(503, *_UNAVAILABLE) from exc
    except TemporalUnavailable as exc:
        raise ApiError(503, *_UNAVAILABLE) from exc
    return SignaturesAccepted(payout_id=payout.id, version=result.version, signed_keys=result.signed_keys,
                              required=result.required, status=result.status, txid=result.txid)


def _refusal(exc: WorkflowUpdateFailedError) -> ApiError:
    cause = exc.cause
    kind = getattr(cause, "type", None)
    message = str(getattr(cause, "message", "") or "the payout refused these signatures")
    details = list(getattr(cause, "details", ()) or ())
    code = details[0].get("code") if details and isinstance(details[0], dict) else None
    if kind == pt.INVALID_SIGNATURES:
        if code in _CONFLICT_CODES:
            return ApiError(409, code, message)
        return ApiError(422, pt.INVALID_SIGNATURES, message, extra={"reason": code or "invalid_psbt"})
    return ApiError(409, "not_awaiting_signature", message)


async def bump(session: AsyncSession, state: AppState, principal: Principal, meta: RequestMeta,
               payout_id: uuid.UUID, body: BumpIn) -> BumpAccepted:
    """Signal ``bump`` to the payout's workflow (starting it if it does not run).

    Raises:
        ApiError: 404 ``payout_not_found``; 409 ``payout_settled`` (confirmed or abandoned),
            ``payout_not_broadcast`` (still waiting for signatures); 422 ``fee_rate_above_cap``;
            503 ``temporal_unavailable``.
    """
    payout = await _payout(session, payout_id)
    if payout.status in ("confirmed", "abandoned"):
        raise ApiError(409, "payout_settled", f"the payout is {payout.status}")
    if payout.status != "broadcast":
        raise ApiError(409, "payout_not_broadcast", "only a payout on its way can be bumped; this one is "
                       f"{payout.status}")
    cap = state.settings.bitcoin.fee_rate_cap_sat_vb
    if body.fee_rate_sat_vb is not None and body.fee_rate_sat_vb > cap:
        raise ApiError(422, "fee_rate_above_cap", f"the fee cap is {cap} sat/vB", extra={"field": "fee_rate_sat_vb"})
    request = pt.BumpRequest(body.reason, str(principal.user.id), body.fee_rate_sat_vb, body.method)
    workflow_id = payout_workflow_id(payout.id)
    try:
        client = await state.temporal.client()
        await client.start_workflow(
            PayoutWorkflow.run, pt.PayoutInput(str(payout.id)), id=workflow_id,
            task_queue=state.settings.temporal.task_queue, start_signal="bump", start_signal_args=[request],
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        )
    except (TemporalUnavailable, RPCError) as exc:
        raise ApiError(503, *_UNAVAILABLE) from exc
    record_audit(session, action="payout.bump_asked", resource_type="payout", resource_id=payout.id,
                 actor_id=principal.user.id, ip_address=meta.ip_address, user_agent=meta.user_agent,
                 new_values={"reason": body.reason, "fee_rate_sat_vb": body.fee_rate_sat_vb, "method": body.method})
    return BumpAccepted(payout_id=payout.id, workflow_id=workflow_id)


async def fee_reserve(session: AsyncSession) -> FeeReserveOut:
    account = await ledger.account(session, e.FEE_RESERVE)
    return FeeReserveOut(balance_sats=account.credit_balance, pending_sats=account.debits_pending,
                         available_sats=account.credit_available)


async def fund_reserve(session: AsyncSession, principal: Principal, meta: RequestMeta, body: FundingIn) -> FeeReserveOut:
    """Assign a confirmed, unattributed custody output to the fee reserve (idempotent per outpoint).

    Raises:
        ApiError: 404 ``outpoint_not_found`` (not a custody output); 409 ``not_unattributed`` (it is
            a user's, a deposit's or change, or not confirmed).
    """
    row = await custody.get(session, body.outpoint, for_update=True)
    if row is None:
        raise ApiError(404, "outpoint_not_found", "no custody output has this outpoint", extra={"field": "outpoint"})
    if row.held_in == e.FEE_RESERVE:
        return await fee_reserve(session)
    if row.held_in != e.UNATTRIBUTED or row.state != UtxoState.CONFIRMED:
        raise ApiError(409, "not_unattributed", "only a confirmed output nobody owns (an unattributed receipt) can "
                       "fund the fee reserve", extra={"field": "outpoint"})
    try:
        await ledger.post(session, e.fee_reserve_funding(row.outpoint, row.value_sats))
    except LedgerError as exc:
        raise ApiError(409, "not_unattributed", f"the books refused the funding: {exc.code}") from exc
    row.held_in = e.FEE_RESERVE
    record_audit(session, action="fee_reserve.funded", resource_type="custody_utxo", resource_id=row.outpoint,
                 actor_id=principal.user.id, ip_address=meta.ip_address, user_agent=meta.user_agent,
                 new_values={"outpoint": row.outpoint, "amount_sats": row.value_sats, "reason": body.reason})
    return await fee_reserve(session)
