"""Typed starters: one function per workflow a client starts (the API, the detection scan, the
payout batcher, the worker's start-up).

Each starts the workflow by *name* (so a caller needs no workflow class and no sandbox-restricted
import), with its deterministic id (:mod:`contracts.workflow_ids`) and the search attributes
operators filter on (docs/DESIGN.md §5). Client-side only: workflow code never calls these.

Errors are Temporal's: ``temporalio.service.RPCError`` when the server is unreachable, and
``WorkflowAlreadyStartedError`` where a policy below forbids a second run (documented per function).
"""

from __future__ import annotations

from typing import Any

from temporalio.client import Client, WorkflowHandle
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError

from contracts import deposits, event_monitor, kyc, payouts, reconciliation, reserves, withdrawals
from contracts import search_attributes as sa
from contracts.workflow_ids import (
    EVENT_MONITOR_ID,
    chain_pause_workflow_id,
    deposit_workflow_id,
    kyc_workflow_id,
    payout_workflow_id,
    proof_workflow_id,
    withdrawal_workflow_id,
)
from domain.kyc import KycStage
from domain.operations import OperationStage, OperationType

#: ``CustodyOperationType`` of a KYC approval (KYC is no ``operations`` row, so no OperationType).
KYC_OPERATION_TYPE = "kyc"


def operation_attributes(
    operation_type: str, *, stage: str, user_id: str, btc_txid: str | None = None, amount_sats: int | None = None
) -> TypedSearchAttributes:
    """The search attributes a workflow starts with: type, first stage, user, and where known the
    BTC txid and the amount (satoshis)."""
    pairs: list[SearchAttributePair[Any]] = [
        SearchAttributePair(sa.OPERATION_TYPE, operation_type),
        SearchAttributePair(sa.STAGE, stage),
        SearchAttributePair(sa.USER_ID, user_id),
    ]
    if btc_txid is not None:
        pairs.append(SearchAttributePair(sa.BTC_TXID, btc_txid))
    if amount_sats is not None:
        pairs.append(SearchAttributePair(sa.AMOUNT_SATS, amount_sats))
    return TypedSearchAttributes(pairs)


async def _start_or_join(client: Client, workflow: str, arg: Any, **options: Any) -> WorkflowHandle[Any, Any]:
    """Start ``workflow`` by name with ``arg``, or join the run already going with its id
    (USE_EXISTING); ``options`` are ``Client.start_workflow``'s (``id``, ``task_queue`` …).

    Raises:
        WorkflowAlreadyStartedError: a closed run with the id forbids a new one under the
            ``id_reuse_policy`` in ``options`` (Temporal's default: ALLOW_DUPLICATE).
    """
    return await client.start_workflow(
        workflow, arg, id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING, **options
    )


async def _ensure_running(
    client: Client, workflow: str, arg: Any, *, reuse_closed: WorkflowIDReusePolicy, **options: Any
) -> WorkflowHandle[Any, Any] | None:
    """Start ``workflow`` or join the run already going with its id (USE_EXISTING); None when a
    closed run with the id forbids a new one under ``reuse_closed``."""
    try:
        return await _start_or_join(client, workflow, arg, id_reuse_policy=reuse_closed, **options)
    except WorkflowAlreadyStartedError:
        return None


async def start_deposit(
    client: Client, inp: deposits.DepositInput, *, task_queue: str
) -> WorkflowHandle[Any, deposits.DepositResult] | None:
    """Make sure the deposit's workflow (``deposit-<txid>:<vout>``) runs; None when a closed run
    forbids a new one.

    A running workflow with the id is reused (concurrent identical requests converge on it). A
    closed one blocks a new run unless it *failed*: a failed claim released its outpoint, and a
    new claim of the same outpoint (the rightful owner, or detection) needs a fresh run.

    Raises:
        InvalidOutpoint: malformed txid or vout.
    """
    return await _ensure_running(
        client, deposits.WORKFLOW, inp, reuse_closed=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
        id=deposit_workflow_id(inp.txid, inp.vout), task_queue=task_queue, result_type=deposits.DepositResult,
        search_attributes=operation_attributes(
            OperationType.DEPOSIT.value, stage=OperationStage.RECEIVED.value, user_id=inp.user_id,
            btc_txid=inp.txid, amount_sats=inp.amount_sats,
        ),
        static_summary=f"deposit {inp.amount_sats} sats, operation {inp.operation_id}",
    )


async def start_withdrawal(
    client: Client, inp: withdrawals.WithdrawalInput, *, task_queue: str, workflow_id: str | None = None
) -> WorkflowHandle[Any, withdrawals.WithdrawalResult] | None:
    """Make sure the withdrawal's workflow (``withdrawal-<operation id>``, or the ``workflow_id``
    the operation row recorded) runs; None when it ran already.

    A running workflow with the id is reused, so the API's start, a retried request and the
    scan's heal of a start that failed after the commit converge on one run; a closed run is
    never started again (a withdrawal's workflow runs once).
    """
    return await _ensure_running(
        client, withdrawals.WORKFLOW, inp, reuse_closed=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        id=workflow_id or withdrawal_workflow_id(inp.operation_id), task_queue=task_queue,
        result_type=withdrawals.WithdrawalResult,
        search_attributes=operation_attributes(
            OperationType.WITHDRAWAL.value, stage=OperationStage.RECEIVED.value, user_id=inp.user_id,
            amount_sats=inp.amount_sats,
        ),
    )


async def start_kyc_approval(
    client: Client, inp: kyc.KycWorkflowInput, *, task_queue: str, workflow_id: str | None = None
) -> WorkflowHandle[Any, Any] | None:
    """Make sure the approval of one KYC record (``kyc-<user id>-<record id>``, or the recorded
    id) runs; None when it ran already. A running one is reused (the submission and its retry
    converge on it); a closed one is never started again (a record is decided once).
    """
    return await _ensure_running(
        client, kyc.WORKFLOW, inp, reuse_closed=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        id=workflow_id or kyc_workflow_id(inp.user_id, inp.record_id), task_queue=task_queue,
        search_attributes=operation_attributes(KYC_OPERATION_TYPE, stage=KycStage.SCREENING.value, user_id=inp.user_id),
    )


async def start_payout(
    client: Client,
    inp: payouts.PayoutInput,
    *,
    task_queue: str,
    bump: payouts.BumpRequest | None = None,
    id_reuse_policy: WorkflowIDReusePolicy = WorkflowIDReusePolicy.ALLOW_DUPLICATE,
) -> WorkflowHandle[Any, payouts.PayoutResult]:
    """Make sure ``payout-<payout id>`` runs (a running one is reused); with ``bump`` the
    ``bump`` signal is delivered with the start (signal-with-start).

    Raises:
        WorkflowAlreadyStartedError: a closed run forbids a new one under ``id_reuse_policy``.
    """
    return await _start_or_join(
        client,
        payouts.WORKFLOW,
        inp,
        id=payout_workflow_id(inp.payout_id),
        task_queue=task_queue,
        result_type=payouts.PayoutResult,
        id_reuse_policy=id_reuse_policy,
        start_signal=payouts.BUMP_SIGNAL if bump is not None else None,
        start_signal_args=[bump] if bump is not None else [],
    )


async def start_proof_of_reserves(
    client: Client, inp: reserves.ProofInput, *, task_queue: str
) -> WorkflowHandle[Any, reserves.ProofResult]:
    """Start an on-demand proof (``reserve-proof-<proof id>``; a running one is reused).

    Raises:
        ValueError: ``inp.proof_id`` is None (only schedules let the workflow draw one).
    """
    if inp.proof_id is None:
        raise ValueError("an on-demand proof needs its proof_id")
    return await _start_or_join(
        client, reserves.WORKFLOW, inp, id=proof_workflow_id(inp.proof_id), task_queue=task_queue,
        result_type=reserves.ProofResult,
    )


async def start_chain_pause(
    client: Client, inp: reconciliation.ChainPauseInput, *, task_queue: str, audit_id: object
) -> WorkflowHandle[Any, str | None]:
    """Mirror an admin's pause or resume onto the router (``chain-pause-<audit row id>``)."""
    return await _start_or_join(
        client, reconciliation.CHAIN_PAUSE_WORKFLOW, inp, id=chain_pause_workflow_id(str(audit_id)),
        task_queue=task_queue,
    )


async def start_event_monitor(
    client: Client, inp: event_monitor.EventMonitorInput, *, task_queue: str
) -> WorkflowHandle[Any, None]:
    """Start the singleton ``event-monitor`` unless it runs already (USE_EXISTING)."""
    return await _start_or_join(client, event_monitor.WORKFLOW, inp, id=EVENT_MONITOR_ID, task_queue=task_queue)
