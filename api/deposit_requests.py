"""Deposit requests from the API: record the claim (keyed by outpoint) and start its workflow.

The row is committed *before* the workflow starts, because the workflow's activities read it.
Starting is idempotent (workflow id ``deposit-<txid>:<vout>``, an existing run is reused), so a
repeated request (or a crash between commit and start) is healed by the next identical request
or by the detection scan.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.service import RPCError

from activities.deposit_types import DepositInput
from api.errors import ApiError
from api.schemas.deposits import DepositRequest
from api.state import AppState
from api.temporal import TemporalUnavailable
from db.audit import record_audit
from db.models import Operation, User
from db.queries import deposit_addresses, operations, system_state
from db.queries.operations import NewDeposit
from domain.deposits import check_minimum
from domain.operations import OperationStatus
from domain.workflow_ids import deposit_idempotency_key, deposit_workflow_id, outpoint
from workflows.deposit_start import start_deposit_workflow


@dataclass(frozen=True)
class RecordedDeposit:
    operation: Operation
    created: bool


def _input(op: Operation) -> DepositInput:
    txid, vout = (op.outpoint or "").rsplit(":", 1)
    return DepositInput(str(op.id), str(op.user_id), txid, int(vout), op.amount or 0)


async def record(
    session: AsyncSession, state: AppState, user: User, body: DepositRequest, client_key: str | None
) -> RecordedDeposit:
    """Find or insert the deposit operation for ``body``'s outpoint (in the caller's transaction).

    Raises:
        ApiError: 409 ``outpoint_claimed`` (another user holds the outpoint), 409
            ``idempotency_key_reused`` (the key named another deposit), 422
            ``stellar_address_missing`` / ``stellar_address_mismatch`` / ``no_deposit_address``.
        BelowMinimum (422), InvalidOutpoint (422), SystemPaused (503).
    """
    key_point = outpoint(body.btc_tx_hash, body.vout)
    check_minimum(body.btc_amount, state.settings.deposits.minimum_sats)
    existing = await _existing(session, user, key_point)
    if existing is not None:
        return RecordedDeposit(existing, created=False)
    stellar = _stellar_address(user, body.stellar_address)
    idem_key = f"deposit:{user.id}:{client_key}" if client_key else deposit_idempotency_key(body.btc_tx_hash, body.vout)
    if client_key and await operations.get_by_idempotency_key(session, idempotency_key=idem_key) is not None:
        raise ApiError(409, "idempotency_key_reused", "this Idempotency-Key was used for another deposit")
    (await system_state.get_pause(session)).check_minting()
    if await deposit_addresses.get_by_user(session, user_id=user.id) is None:
        raise ApiError(422, "no_deposit_address", "get your deposit address first (GET /api/integration/deposit-address)")
    new = NewDeposit(
        user_id=user.id, txid=body.btc_tx_hash, vout=body.vout, amount_sats=body.btc_amount,
        idempotency_key=idem_key, workflow_id=deposit_workflow_id(body.btc_tx_hash, body.vout),
        token_address=state.settings.soroban.contracts.istsi_token, stellar_address=stellar, source="api",
    )
    op = await operations.insert_deposit(session, new)
    if op is None:  # a concurrent request won the insert: converge on its row
        existing = await _existing(session, user, key_point)
        if existing is None:
            raise ApiError(409, "idempotency_key_reused", "this Idempotency-Key was used for another deposit")
        return RecordedDeposit(existing, created=False)
    record_audit(
        session, action="deposit.requested", resource_type="operation", resource_id=op.id, actor_id=user.id,
        new_values={"outpoint": key_point, "amount": body.btc_amount, "stellar_address": stellar,
                    "status": op.status, "stage": op.stage},
    )
    return RecordedDeposit(op, created=True)


async def start(state: AppState, op: Operation) -> None:
    """Make sure an unfinished deposit's workflow runs (no-op for final ones).

    Raises:
        ApiError: 503 ``temporal_unavailable`` (the row is kept; a retry or the scan starts it).
    """
    if OperationStatus(op.status).is_final or op.outpoint is None:
        return
    try:
        client = await state.temporal.client()
        await start_deposit_workflow(client, _input(op), task_queue=state.settings.temporal.task_queue)
    except (TemporalUnavailable, RPCError) as exc:
        raise ApiError(503, "temporal_unavailable", "the workflow service is unavailable; try again") from exc


async def _existing(session: AsyncSession, user: User, key_point: str) -> Operation | None:
    op = await operations.get_by_outpoint(session, outpoint=key_point)
    if op is not None and op.user_id != user.id:
        raise ApiError(409, "outpoint_claimed", "this output is already claimed by another account")
    return op


def _stellar_address(user: User, requested: str | None) -> str:
    if not user.stellar_address:
        raise ApiError(422, "stellar_address_missing", "set a Stellar address on your profile first")
    if requested is not None and requested != user.stellar_address:
        raise ApiError(422, "stellar_address_mismatch", "stellar_address must be the one on your profile")
    return user.stellar_address
