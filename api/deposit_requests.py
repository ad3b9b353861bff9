"""Deposit requests from the API: check the claim on the chain, record it (keyed by outpoint) and
start its workflow.

The claim is checked first (``api.deposit_claims``: the transaction exists, in a block or the
mempool, and output ``vout`` pays the claimant's own deposit address the claimed amount), so a
false claim never holds an outpoint, uses a limit or starts a long wait; claims still only in the
mempool are capped per user (``deposits.max_unconfirmed_claims_per_user``).

The row is committed *before* the workflow starts, because the workflow's activities read it.
Starting is idempotent (workflow id ``deposit-<txid>:<vout>``, an existing run is reused), so a
repeated request (or a crash between commit and start) is healed by the next identical request
or by the detection scan.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from activities.deposit_types import DepositInput
from api.deposit_claims import ClaimSeen, verify_claim
from api.errors import ApiError, field_error
from api.schemas.deposits import DepositRequest
from api.state import AppState
from api.temporal import TemporalUnavailable
from db.audit import record_audit
from db.models import Operation, User
from db.models.base import utcnow
from db.queries import deposit_addresses, operations, system_state
from db.queries.limits import lock_user_limits
from db.queries.operations import NewDeposit
from domain.deposits import check_minimum
from domain.operations import OperationStage, OperationStatus
from domain.workflow_ids import deposit_idempotency_key, deposit_workflow_id, outpoint
from workflows.deposit_start import start_deposit_workflow


@dataclass(frozen=True)
class RecordedDeposit:
    operation: Operation
    created: bool
    displaced: bool = False
    """A false claim of another account held the outpoint (recorded before claims were checked at
    the door); it was failed, and its workflow must end before this one starts."""


def _input(op: Operation) -> DepositInput:
    txid, vout = (op.outpoint or "").rsplit(":", 1)
    return DepositInput(str(op.id), str(op.user_id), txid, int(vout), op.amount or 0)


async def record(
    session: AsyncSession, state: AppState, user: User, body: DepositRequest, client_key: str | None
) -> RecordedDeposit:
    """Find or insert the deposit operation for ``body``'s outpoint (in the caller's transaction).

    Raises:
        ApiError: 422 ``tx_not_found`` / ``no_output_to_address`` / ``amount_mismatch`` (the chain
            disproves the claim), ``stellar_address_missing`` / ``stellar_address_mismatch`` /
            ``no_deposit_address``; 409 ``idempotency_key_reused``, ``too_many_unconfirmed_claims``;
            503 ``chain_unavailable``.
        BelowMinimum (422), InvalidOutpoint (422), SystemPaused (503).
    """
    key_point = outpoint(body.btc_tx_hash, body.vout)
    check_minimum(body.btc_amount, state.settings.deposits.minimum_sats)
    existing = await operations.get_by_outpoint(session, outpoint=key_point)
    if existing is not None and existing.user_id == user.id:
        return RecordedDeposit(existing, created=False)
    stellar = _stellar_address(user, body.stellar_address)
    idem_key = f"deposit:{user.id}:{client_key}" if client_key else deposit_idempotency_key(body.btc_tx_hash, body.vout)
    if client_key and await operations.get_by_idempotency_key(session, idempotency_key=idem_key) is not None:
        raise ApiError(409, "idempotency_key_reused", "this Idempotency-Key was used for another deposit")
    (await system_state.get_pause(session)).check_minting()
    address = await deposit_addresses.get_by_user(session, user_id=user.id)
    if address is None:
        raise ApiError(422, "no_deposit_address", "get your deposit address first (GET /api/integration/deposit-address)")
    seen = await verify_claim(
        state.esplora, txid=body.btc_tx_hash, vout=body.vout, claimed_sats=body.btc_amount,
        deposit_address=address.address, network=state.settings.bitcoin.network,
    )
    if seen == ClaimSeen.MEMPOOL:
        await _check_unconfirmed_cap(session, state, user)
    displaced = False
    if existing is not None:  # another account holds it, yet the chain says it pays this user
        displaced = await _fail_false_claim(session, existing, claimant=user)
    new = NewDeposit(
        user_id=user.id, txid=body.btc_tx_hash, vout=body.vout, amount_sats=body.btc_amount,
        idempotency_key=idem_key, workflow_id=deposit_workflow_id(body.btc_tx_hash, body.vout),
        token_address=state.settings.soroban.contracts.istsi_token, stellar_address=stellar, source="api",
    )
    op = await operations.insert_deposit(session, new)
    if op is None:  # a concurrent request won the insert: converge on its row
        again = await operations.get_by_outpoint(session, outpoint=key_point)
        if again is None or again.user_id != user.id:
            raise ApiError(409, "idempotency_key_reused", "this Idempotency-Key was used for another deposit")
        return RecordedDeposit(again, created=False)
    record_audit(
        session, action="deposit.requested", resource_type="operation", resource_id=op.id, actor_id=user.id,
        new_values={"outpoint": key_point, "amount": body.btc_amount, "stellar_address": stellar,
                    "status": op.status, "stage": op.stage, "seen": seen.value},
    )
    return RecordedDeposit(op, created=True, displaced=displaced)


async def _check_unconfirmed_cap(session: AsyncSession, state: AppState, user: User) -> None:
    """Refuse one more mempool-only claim when the user already has the maximum (serialised per user)."""
    cap = state.settings.deposits.max_unconfirmed_claims_per_user
    await lock_user_limits(session, user_id=user.id)
    if await operations.count_unconfirmed_claims(session, user_id=user.id) >= cap:
        raise ApiError(
            409, "too_many_unconfirmed_claims",
            f"you have {cap} deposit claims waiting for their first confirmation: post this one once it is in a "
            "block (or let detection credit it by itself)",
            extra={"limit": cap},
        )


async def _fail_false_claim(session: AsyncSession, other: Operation, *, claimant: User) -> bool:
    """Fail another account's claim of an output the chain says pays ``claimant`` (such claims were
    accepted before claims were checked at the door) and free its outpoint. True when it was live."""
    op = await operations.get_by_id(session, operation_id=other.id, for_update=True)
    if op is None or op.outpoint is None:
        return False
    before = operations.snapshot(op)
    live = not OperationStatus(op.status).is_final
    if live:
        op.status, op.stage, op.error = OperationStatus.FAILED.value, OperationStage.FAILED.value, "no_output_to_address"
    op.meta = {**(op.meta or {}), "released_outpoint": op.outpoint}
    op.outpoint, op.idempotency_key = None, f"{op.idempotency_key}#released:{op.id}"
    op.updated_at = utcnow()
    record_audit(
        session, action="deposit.claim_disproved", resource_type="operation", resource_id=op.id,
        actor_id=claimant.id, old_values=before,
        new_values={**operations.snapshot(op), "reason": "the output pays another account's deposit address"},
    )
    await session.flush()
    return live


async def start(state: AppState, op: Operation, *, displaced: bool = False) -> None:
    """Make sure an unfinished deposit's workflow runs (no-op for final ones).

    Raises:
        ApiError: 503 ``temporal_unavailable`` (the row is kept; a retry or the scan starts it).
    """
    if OperationStatus(op.status).is_final or op.outpoint is None:
        return
    try:
        client = await state.temporal.client()
        inp = _input(op)
        if displaced:
            await _end_displaced_run(client, deposit_workflow_id(inp.txid, inp.vout))
        await start_deposit_workflow(client, inp, task_queue=state.settings.temporal.task_queue)
    except (TemporalUnavailable, RPCError) as exc:
        raise ApiError(503, "temporal_unavailable", "the workflow service is unavailable; try again") from exc


async def _end_displaced_run(client: Client, workflow_id: str) -> None:
    """Terminate the disproved claim's run (it shares the outpoint's workflow id); gone is fine."""
    try:
        await client.get_workflow_handle(workflow_id).terminate(reason="the claim was disproved: the output pays another account")
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:
            raise


def _stellar_address(user: User, requested: str | None) -> str:
    if not user.stellar_address:
        raise field_error(
            422, "stellar_address_missing", "stellar_address",
            'set your Stellar account on your profile first (PUT /api/users/profile {"stellar_address": "G…"}): '
            "the minted iSTSi go there",
        )
    if requested is not None and requested != user.stellar_address:
        raise field_error(422, "stellar_address_mismatch", "stellar_address",
                          "stellar_address must be the one on your profile (or leave it out)")
    return user.stellar_address
