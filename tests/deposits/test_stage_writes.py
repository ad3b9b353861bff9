"""Stage writes inside an activity's transaction (``db.queries.operations.write_stage`` and the
lean path's ``activities.deposit_stages.project``) against real Postgres: a retried write changes
nothing and audits once, the lifecycle is enforced, a finished operation is never reopened, and a
write commits or rolls back with the business effect beside it."""

from __future__ import annotations

import secrets
import uuid

import pytest
from sqlalchemy import func, select
from temporalio.exceptions import ApplicationError

from activities import deposit_stages as stages
from db.models import AuditLog, Operation
from db.queries import operations
from db.queries.operations import NewDeposit, StageChange
from domain.operations import IllegalTransition, OperationStage
from domain.roles import Role


@pytest.fixture
def new_deposit(sessions, make_user):
    async def make() -> uuid.UUID:
        account = await make_user(Role.USER)
        txid = secrets.token_hex(32)
        async with sessions() as session, session.begin():
            op = await operations.insert_deposit(session, NewDeposit(
                user_id=account.id, txid=txid, vout=0, amount_sats=10_000, idempotency_key=f"test:{txid}",
                workflow_id=f"deposit-{txid}:0", token_address="", stellar_address="", source="api",
            ))
        assert op is not None
        return op.id

    return make


async def _write(sessions, op_id: uuid.UUID, change: StageChange, *, lean: bool = False) -> bool:
    async with sessions() as session, session.begin():
        op = await operations.get_by_id(session, operation_id=op_id, for_update=True)
        return stages.project(session, op, change) if lean else operations.write_stage(session, op, change)


async def _audits(sessions, op_id: uuid.UUID, action: str = "deposit.stage_changed") -> int:
    async with sessions() as session:
        return await session.scalar(select(func.count()).select_from(AuditLog).where(
            AuditLog.resource_id == str(op_id), AuditLog.action == action))


async def test_a_retried_stage_write_changes_nothing_and_is_audited_once(sessions, new_deposit) -> None:
    op_id = await new_deposit()
    planned = stages.planned(required_confirmations=3)

    first = await _write(sessions, op_id, planned)
    async with sessions() as session:
        after_first = await operations.get_by_id(session, operation_id=op_id)
    second = await _write(sessions, op_id, planned)
    async with sessions() as session:
        after_second = await operations.get_by_id(session, operation_id=op_id)

    assert (first, second) == (True, False)
    assert (after_first.status, after_first.stage, after_first.required_confirmations) == ("processing", "verifying", 3)
    assert after_second.updated_at == after_first.updated_at
    assert await _audits(sessions, op_id) == 1


async def test_a_depth_change_alone_moves_the_row_but_writes_no_audit_row(sessions, new_deposit) -> None:
    op_id = await new_deposit()
    await _write(sessions, op_id, StageChange(stage=OperationStage.AWAITING_CONFIRMATIONS.value, confirmations=0))
    changed = await _write(sessions, op_id, StageChange(stage=OperationStage.AWAITING_CONFIRMATIONS.value,
                                                        confirmations=1))
    async with sessions() as session:
        op = await operations.get_by_id(session, operation_id=op_id)
    assert changed and op.confirmations == 1
    assert await _audits(sessions, op_id) == 1


async def test_a_wait_is_shown_and_cleared_with_its_reason(sessions, new_deposit) -> None:
    op_id = await new_deposit()
    await _write(sessions, op_id, StageChange(stage="awaiting_kyc", waiting_for="submit KYC", wait_reason="kyc_required"))
    async with sessions() as session:
        waiting = await operations.get_by_id(session, operation_id=op_id)
    await _write(sessions, op_id, stages.admitted(keep_pause_error=False))
    async with sessions() as session:
        admitted = await operations.get_by_id(session, operation_id=op_id)
    assert (waiting.waiting_for, waiting.meta["wait_reason"]) == ("submit KYC", "kyc_required")
    assert (admitted.stage, admitted.waiting_for, "wait_reason" in admitted.meta) == ("kyc_check", None, False)


async def test_the_lifecycle_is_enforced(sessions, new_deposit) -> None:
    op_id = await new_deposit()
    with pytest.raises(IllegalTransition):  # pending → completed skips processing
        await _write(sessions, op_id, StageChange(stage="completed", status="completed"))
    await _write(sessions, op_id, StageChange(status="processing"))
    await _write(sessions, op_id, StageChange(stage="completed", status="completed"))
    with pytest.raises(IllegalTransition):
        await _write(sessions, op_id, StageChange(status="processing"))


async def test_a_lean_write_never_reopens_a_finished_operation(sessions, new_deposit) -> None:
    op_id = await new_deposit()
    await _write(sessions, op_id, StageChange(stage="cancelled", status="cancelled"))

    written = await _write(sessions, op_id, stages.planned(required_confirmations=1), lean=True)

    async with sessions() as session:
        op = await operations.get_by_id(session, operation_id=op_id)
    assert not written and (op.status, op.stage) == ("cancelled", "cancelled")


async def test_the_watch_completes_only_a_row_still_watching(sessions, new_deposit) -> None:
    op_id = await new_deposit()
    await _write(sessions, op_id, StageChange(status="processing"))
    await _write(sessions, op_id, StageChange(stage="reorg_hold", status="completed"))
    done = StageChange(stage="completed", confirmations=7)
    async with sessions() as session, session.begin():
        op = await operations.get_by_id(session, operation_id=op_id, for_update=True)
        held = stages.project(session, op, done, from_stage=OperationStage.WATCHING.value)
        op.stage = OperationStage.WATCHING.value
        watching = stages.project(session, op, done, from_stage=OperationStage.WATCHING.value)
    assert (held, watching) == (False, True)


async def test_a_stage_write_rolls_back_with_the_work_beside_it(sessions, new_deposit) -> None:
    op_id = await new_deposit()

    class WorkFailed(Exception):
        pass

    with pytest.raises(WorkFailed):
        async with sessions() as session, session.begin():
            op = await operations.get_by_id(session, operation_id=op_id, for_update=True)
            stages.project(session, op, stages.entered(OperationStage.MINTING))
            raise WorkFailed

    async with sessions() as session:
        op = await session.get(Operation, op_id)
    assert op.stage == "received"
    assert await _audits(sessions, op_id) == 0


async def test_an_illegal_lean_write_is_a_non_retryable_activity_error(sessions, new_deposit) -> None:
    op_id = await new_deposit()
    await _write(sessions, op_id, StageChange(stage="failed", status="failed"))
    with pytest.raises(ApplicationError) as raised:
        async with sessions() as session, session.begin():
            op = await operations.get_by_id(session, operation_id=op_id, for_update=True)
            stages.project(session, op, StageChange(status="processing"), from_stage="failed")
    assert (raised.value.type, raised.value.non_retryable) == ("IllegalTransition", True)
