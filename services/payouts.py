"""Payouts for operators and external signers: read a payout, hand a signer's partially signed
PSBT to its workflow, ask for a bump, read and fund the fee reserve.

Signatures go to ``PayoutWorkflow.submit_signatures`` (an update: its activity checks, merges
and, at the quorum, finalizes; the caller learns the outcome). Nothing is recorded before it, so
a failed call leaves nothing behind and is repeated as it is. A bump is the workflow's signal
``bump`` (started with it if its workflow is not running; the id is deterministic), audited
once it was delivered. Funding the reserve reassigns the custodian's own BTC (a confirmed,
unattributed custody output) in the books, in the request's transaction with its audit row; no
BTC moves.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from contracts import payouts as pt
from contracts.workflow_ids import payout_workflow_id
from db import ledger
from db.audit import record_audit
from db.models import Payout, PayoutItem, PayoutSignature, PayoutVersion
from db.queries import custody
from db.queries import payouts as pq
from db.queries.payouts import WithdrawalPayout
from domain import entries as e
from domain.errors import Conflict, NotFound, Refused
from domain.ledger import LedgerError
from domain.payout_steering import CONFLICTING_CONTRIBUTIONS, PayoutStatus, check_bumpable
from domain.utxo_set import UtxoState
from services.actor import Actor
from services.state import AppState
from services.temporal_gateway import UpdateRefused, WorkflowNotRunning

#: How long a signature waits for a payout that is not ready for it yet (a batch just cut, or
#: another signer's PSBT being merged), and how often it asks again.
NOT_READY_WAIT_SECONDS = 20.0
NOT_READY_POLL_SECONDS = 0.25


@dataclass(frozen=True)
class PayoutView:
    """A payout with every version (and its signatures) and its withdrawals."""

    payout: Payout
    versions: list[tuple[PayoutVersion, list[PayoutSignature]]]
    items: list[PayoutItem]


@dataclass(frozen=True)
class BumpRequest:
    """An operator's bump: why, at which rate (sat/vB, None: the estimate) and how (``rbf``/``cpfp``/None)."""

    reason: str
    fee_rate_sat_vb: int | None = None
    method: str | None = None


@dataclass(frozen=True)
class FeeReserve:
    """The custodian's fee reserve in sats: its balance, what pending bumps hold and what is available."""

    balance_sats: int
    pending_sats: int
    available_sats: int


async def _payout(session: AsyncSession, payout_id: uuid.UUID) -> Payout:
    payout = await pq.get(session, payout_id)
    if payout is None:
        raise NotFound("no such payout", code="payout_not_found")
    return payout


async def detail(session: AsyncSession, payout_id: uuid.UUID) -> PayoutView:
    """The payout ``payout_id`` in full.

    Raises:
        NotFound: ``payout_not_found``.
    """
    payout = await _payout(session, payout_id)
    versions = [(v, await pq.signatures_of(session, v.id)) for v in await pq.versions(session, payout.id)]
    return PayoutView(payout, versions, await pq.items_of(session, payout.id))


async def of_withdrawal(session: AsyncSession, operation_id: uuid.UUID) -> WithdrawalPayout:
    """A withdrawal's payout: its batch's PSBT, txid, the withdrawal's output, fee share and status.

    Raises:
        NotFound: ``payout_not_found`` (the operation has no payout yet).
    """
    row = await pq.withdrawal_payout(session, operation_id=operation_id)
    if row is None:
        raise NotFound("this operation has no payout yet", code="payout_not_found")
    return row


async def awaiting_version(session: AsyncSession, payout: Payout) -> int:
    """The version that awaits signatures.

    Raises:
        Conflict: ``not_awaiting_signature`` (none does).
    """
    for v in await pq.versions(session, payout.id):
        if v.status == PayoutStatus.AWAITING_SIGNATURE:
            return v.version
    raise Conflict("no version of this payout awaits signatures", code="not_awaiting_signature")


async def submit_signatures(session: AsyncSession, state: AppState, actor: Actor, payout_id: uuid.UUID, *,
                            psbt: str, version: int | None = None) -> pt.SignaturesResult:
    """Hand a signer's PSBT (base64, for ``version``; None: the one awaiting signatures) to the
    payout's workflow and return what it made of it.

    Ends ``session``'s transaction (its rows expire) before waiting for the workflow, so it must
    be the caller's last use of the session: nothing written in it is pending here.

    Raises:
        NotFound: ``payout_not_found``.
        Conflict: ``not_awaiting_signature``, ``duplicate_signature``, ``signer_already_signed``.
        Refused: ``invalid_signed_psbt`` (``reason``: ``foreign_signature``, ``invalid_signature``,
            ``one_key_per_contribution``, ``incomplete_contribution``, ``psbt_mismatch``, ``invalid_psbt``).
        TemporalUnavailable.
    """
    payout = await _payout(session, payout_id)
    version = version if version is not None else await awaiting_version(session, payout)
    key = payout.id
    inp = pt.SignaturesInput(str(key), version, psbt, str(actor.user.id))
    # Reads only: give the connection back before a wait of up to 20 s (loaded rows expire here).
    await session.rollback()
    deadline = time.monotonic() + NOT_READY_WAIT_SECONDS
    while True:
        try:
            return await state.temporal.update(
                payout_workflow_id(key), pt.SUBMIT_SIGNATURES_UPDATE, inp,
                update_id=f"signatures-{key}-{uuid.uuid4().hex[:8]}", result_type=pt.SignaturesResult)
        except UpdateRefused as exc:
            # A batch cut a moment ago, or another signer's PSBT being merged: wait it out.
            if exc.failure_type == pt.NOT_READY and time.monotonic() < deadline:
                await asyncio.sleep(NOT_READY_POLL_SECONDS)
                continue
            raise _refusal(exc) from exc
        except WorkflowNotRunning as exc:
            raise Conflict("the payout's workflow is not running", code="not_awaiting_signature") from exc


def _refusal(exc: UpdateRefused) -> Conflict | Refused:
    message = exc.failure_message or "the payout refused these signatures"
    code = exc.details[0].get("code") if exc.details and isinstance(exc.details[0], dict) else None
    if exc.failure_type == pt.INVALID_SIGNATURES:
        if code in CONFLICTING_CONTRIBUTIONS:
            return Conflict(message, code=code)
        return Refused(message, code=pt.INVALID_SIGNATURES, extra={"reason": code or "invalid_psbt"})
    return Conflict(message, code="not_awaiting_signature")


async def bump(session: AsyncSession, state: AppState, actor: Actor, payout_id: uuid.UUID, ask: BumpRequest) -> str:
    """Signal ``bump`` to the payout's workflow (starting it if it does not run); returns its id.

    Raises:
        NotFound: ``payout_not_found``.
        Conflict: ``payout_settled`` (confirmed or abandoned), ``payout_not_broadcast``.
        Refused: ``fee_rate_above_cap``.
        TemporalUnavailable: nothing was asked (nor audited).
    """
    payout = await _payout(session, payout_id)
    check_bumpable(payout.status, fee_rate_sat_vb=ask.fee_rate_sat_vb,
                   fee_rate_cap_sat_vb=state.settings.bitcoin.fee_rate_cap_sat_vb)
    request = pt.BumpRequest(ask.reason, str(actor.user.id), ask.fee_rate_sat_vb, ask.method)
    workflow_id = await state.temporal.start(
        pt.WORKFLOW, pt.PayoutInput(str(payout.id)), workflow_id=payout_workflow_id(payout.id),
        task_queue=state.settings.temporal.task_queue, start_signal=pt.BUMP_SIGNAL, start_signal_args=[request],
    )
    record_audit(session, action="payout.bump_asked", resource_type="payout", resource_id=payout.id,
                 actor_id=actor.user.id, ip_address=actor.ip_address, user_agent=actor.user_agent,
                 new_values={"reason": ask.reason, "fee_rate_sat_vb": ask.fee_rate_sat_vb, "method": ask.method})
    return workflow_id


async def fee_reserve(session: AsyncSession) -> FeeReserve:
    """The fee reserve's balance in the books."""
    account = await ledger.account(session, e.FEE_RESERVE)
    return FeeReserve(account.credit_balance, account.debits_pending, account.credit_available)


async def fund_reserve(session: AsyncSession, actor: Actor, *, outpoint: str, reason: str) -> FeeReserve:
    """Assign a confirmed, unattributed custody output to the fee reserve (idempotent per outpoint).

    Raises:
        NotFound: ``outpoint_not_found`` (not a custody output).
        Conflict: ``not_unattributed`` (it is a user's, a deposit's or change, or not confirmed).
    """
    row = await custody.get(session, outpoint, for_update=True)
    if row is None:
        raise NotFound("no custody output has this outpoint", code="outpoint_not_found", extra={"field": "outpoint"})
    if row.held_in == e.FEE_RESERVE:
        return await fee_reserve(session)
    if row.held_in != e.UNATTRIBUTED or row.state != UtxoState.CONFIRMED:
        raise Conflict("only a confirmed output nobody owns (an unattributed receipt) can fund the fee reserve",
                       code="not_unattributed", extra={"field": "outpoint"})
    try:
        await ledger.post(session, e.fee_reserve_funding(row.outpoint, row.value_sats))
    except LedgerError as exc:
        raise Conflict(f"the books refused the funding: {exc.code}", code="not_unattributed") from exc
    row.held_in = e.FEE_RESERVE
    record_audit(session, action="fee_reserve.funded", resource_type="custody_utxo", resource_id=row.outpoint,
                 actor_id=actor.user.id, ip_address=actor.ip_address, user_agent=actor.user_agent,
                 new_values={"outpoint": row.outpoint, "amount_sats": row.value_sats, "reason": reason})
    return await fee_reserve(session)
