"""Stage writes of the lean deposit path: what a deposit activity writes to its operation row.

On the lean path (patch ``lean-deposit-path``) the activity that does a step's work also writes
the step's stage, in the transaction of its business effect, so a happy-path deposit needs no
separate projection activity. The workflow publishes the same stage to ``CustodyStage``. The
changes here are pure (built from an activity's outcome); :func:`project` applies one to a row
the activity has locked.
"""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.exceptions import ApplicationError

from contracts import deposits as t
from db.models import Operation
from db.queries import operations
from db.queries.operations import StageChange
from domain.operations import IllegalTransition, OperationStage, OperationStatus

#: ``operations.error`` while minting is paused (the policy check waits and asks again).
SYSTEM_PAUSED = "system_paused"
_DISPROVED = ("amount_mismatch", "no_output_to_address")


async def locked_operation(session: AsyncSession, operation_id: str) -> Operation:
    """The operation row, locked until the transaction ends.

    Raises:
        ApplicationError ``OperationMissing`` (non-retryable): no such operation.
    """
    op = await operations.get_by_id(session, operation_id=uuid.UUID(operation_id), for_update=True)
    if op is None:
        raise ApplicationError(f"operation {operation_id} does not exist", type="OperationMissing", non_retryable=True)
    return op


def project(session: AsyncSession, op: Operation, change: StageChange, *, from_stage: str | None = None) -> bool:
    """Write ``change`` to the locked ``op`` with its audit row, in the caller's transaction.

    Skipped (False) on an operation already final, so a late retry never reopens it, unless
    ``from_stage`` is given: then the row is written only while it is at that stage (the watch
    after a completed mint moves ``watching`` to ``completed``). True when the row changed.

    Raises:
        ApplicationError ``IllegalTransition`` (non-retryable): a status change the lifecycle
        forbids (a code bug, never fixed by retrying).
    """
    if from_stage is not None:
        if op.stage != from_stage:
            return False
    elif OperationStatus(op.status).is_final:
        return False
    try:
        return operations.write_stage(session, op, change)
    except IllegalTransition as exc:
        raise ApplicationError(str(exc), type="IllegalTransition", non_retryable=True) from exc


def entered(stage: OperationStage) -> StageChange:
    """The row enters ``stage``: a step got this far, so an earlier step's error is resolved."""
    return StageChange(stage=stage.value, clear_error=True)


def planned(required_confirmations: int) -> StageChange:
    """``plan_deposit`` fixed the depth: the deposit is being verified (status ``processing``)."""
    return StageChange(
        stage=OperationStage.VERIFYING.value, status=OperationStatus.PROCESSING.value,
        required_confirmations=required_confirmations, clear_error=True,
    )


def observed(inp: t.ObserveInput, obs: t.DepositObservation) -> tuple[StageChange | None, str | None]:
    """What an observation writes, and the stage the row must be at for it (None: any unfinished).

    While waiting for depth (``project``): stage ``awaiting_confirmations`` with the depth on the
    canonical chain (0 in the mempool or off the chain); nothing when the chain disproves the
    claim (the workflow fails it). After the mint (``complete_at``): ``completed`` once deep enough.
    """
    if inp.project and obs.outcome not in _DISPROVED:
        depth = obs.confirmations if obs.outcome == "confirmed" else 0
        return StageChange(stage=OperationStage.AWAITING_CONFIRMATIONS.value, confirmations=depth,
                           clear_error=True), None
    if inp.complete_at is not None and obs.outcome == "confirmed" and obs.confirmations >= inp.complete_at:
        return StageChange(stage=OperationStage.COMPLETED.value, confirmations=obs.confirmations), \
            OperationStage.WATCHING.value
    return None, None


def waiting(result: t.PolicyResult) -> StageChange:
    """The policy refused for a reason the user can fix: show the wait and what to do."""
    assert result.wait_stage is not None
    return StageChange(stage=result.wait_stage, waiting_for=result.waiting_for, wait_reason=result.wait_reason,
                       clear_error=True)


def admitted(*, keep_pause_error: bool) -> StageChange:
    """The policy's Postgres part admits the deposit: stage ``kyc_check``, no wait. A
    ``system_paused`` error stays until the chain part has answered (no flapping while paused)."""
    return StageChange(stage=OperationStage.KYC_CHECK.value, clear_waiting=True, clear_error=not keep_pause_error)


def paused(op: Operation) -> StageChange:
    """Minting is paused: the deposit is held at the policy check (``kyc_check``, or the wait on
    its user it is already in) with ``error = system_paused`` until minting resumes."""
    stage = op.stage if op.stage in operations.WAITING_ON_USER else OperationStage.KYC_CHECK.value
    return StageChange(stage=stage, error=SYSTEM_PAUSED)


UNPAUSED = StageChange(clear_error=True)
