"""The worker process is SIGKILLed at each stage of a deposit and restarted: every deposit still
completes with exactly one mint, and the docs/DESIGN.md §3 invariants hold."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy import func, select
from temporalio.api.enums.v1 import PendingWorkflowTaskState
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from config.settings import Settings
from db.models import ChainSubmission, DepositAddress, Operation
from db.queries import balances, system_state
from domain.pause import PauseState
from services.state import AppState
from tests.deposits.conftest import post_deposit
from tests.fixtures.stack import assert_books_whole
from tests.fixtures.waiting import eventually
from tests.fixtures.worker_process import WorkerProcess, worker_env

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("minting_enabled")]
AMOUNT = 45_000


@pytest.fixture
async def worker_process(
    temporal_env: WorkflowEnvironment, settings: Settings, task_queue: str, tmp_path
) -> AsyncIterator[WorkerProcess]:
    env = worker_env(
        settings, temporal_env, task_queue,
        CUSTODY_TEMPORAL__GRACEFUL_SHUTDOWN_SECONDS="0",
        # keep the scheduled scan out of the way; watch two blocks after the mint
        CUSTODY_DEPOSITS__DETECTION_INTERVAL_SECONDS="3600",
        CUSTODY_DEPOSITS__WATCH_BLOCKS_AFTER_MINT="2",
    )
    worker = WorkerProcess(env, tmp_path / "worker.log")
    yield worker
    await worker.kill()
    print((tmp_path / "worker.log").read_text()[-3000:])  # shown when the test fails


@pytest.fixture
async def queue_client(settings: Settings, temporal_client, task_queue: str) -> AsyncIterator[httpx.AsyncClient]:
    """An API client whose app starts workflows on the test's task queue."""
    temporal = settings.temporal.model_copy(update={"task_queue": task_queue})
    app_settings = settings.model_copy(update={"temporal": temporal})
    state = AppState.build(app_settings, temporal_client=temporal_client)
    app = create_app(app_settings, state=state)
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app, client=("198.51.100.9", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client
    await state.close()


async def _waits_for_a_worker(sessions, temporal_client, op_id: str) -> bool:
    """The deposit's workflow runs and its first task is scheduled, with no worker to take it."""
    async with sessions() as session:
        op = await session.get(Operation, uuid.UUID(op_id))
    if op is None or op.workflow_id is None:
        return False
    described = await temporal_client.get_workflow_handle(op.workflow_id).describe()
    task = described.raw_description.pending_workflow_task
    return described.status == WorkflowExecutionStatus.RUNNING \
        and task.state == PendingWorkflowTaskState.PENDING_WORKFLOW_TASK_STATE_SCHEDULED


async def _assert_invariants(sessions, worker_deps) -> None:
    contracts = worker_deps.contracts
    supply = await contracts.token.total_supply()
    async with sessions() as session:
        credited = await balances.total_credited(session, token_address=contracts.token.address)
        addresses = list((await session.execute(select(DepositAddress.address))).scalars())
    assert supply == credited, "token supply on chain == sum of credited balances"
    held = 0
    for address in addresses:
        held += sum(u.amount_sats for u in await worker_deps.esplora.address_utxos(address) if u.status.confirmed)
    pending = await contracts.reserve.get_pending_withdrawals()
    assert held >= supply + pending, "BTC held >= token supply + withdrawals not yet paid"


@pytest.mark.parametrize("stage", ["received", "awaiting_confirmations", "kyc_check", "minting", "watching"])
async def test_sigkill_at_each_stage_still_mints_exactly_once(
    stage, worker_process, queue_client, make_depositor, btc, wait_for, sessions, worker_deps, soroban_sandbox,
    temporal_client,
) -> None:
    depositor = await make_depositor()
    txid, vout = await btc.pay(depositor.deposit_address, AMOUNT)
    if stage != "received":
        await worker_process.start()
    if stage == "minting":  # slow inclusion, so the worker dies with the envelope in flight
        soroban_sandbox.state.faults.inclusion_delay_ledgers = 40

    try:
        response = await post_deposit(queue_client, depositor, txid, vout, AMOUNT)
        assert response.status_code == 202, response.text
        op_id = response.json()["operation_id"]
        if stage == "kyc_check":  # hold the deposit at the policy check: minting is paused
            async with sessions() as session, session.begin():
                await system_state.set_pause(session, state=PauseState(minting=True, reason="crash test"), actor_id=None)
        if stage == "received":  # no worker at all yet: the workflow waits for one
            await eventually(lambda: _waits_for_a_worker(sessions, temporal_client, op_id), timeout=30,
                             what="the deposit workflow waiting for a worker")
        else:
            if stage != "awaiting_confirmations":
                await btc.mine(1)
            await wait_for(op_id, stage=stage, timeout=60)
            if stage == "minting":
                async def envelope_stored() -> bool:
                    async with sessions() as session:
                        row = await session.scalar(select(ChainSubmission).where(ChainSubmission.idempotency_key == f"mint:{op_id}"))
                    return row is not None
                await eventually(envelope_stored, timeout=60, interval=0.02, what=f"the mint envelope of {op_id} stored")
            await worker_process.kill()
    finally:
        soroban_sandbox.state.faults.inclusion_delay_ledgers = 0
        if stage == "kyc_check":
            async with sessions() as session, session.begin():
                await system_state.set_pause(session, state=PauseState(), actor_id=None)

    await worker_process.start()
    if stage in ("received", "awaiting_confirmations"):
        await btc.mine(1)
    await wait_for(op_id, status="completed", timeout=90)
    if stage == "watching":
        await btc.mine(2)
        await wait_for(op_id, stage="completed", timeout=60)

    async with sessions() as session:
        mints = await session.scalar(
            select(func.count()).select_from(ChainSubmission).where(ChainSubmission.idempotency_key == f"mint:{op_id}")
        )
    assert mints == 1
    assert await worker_deps.contracts.token.balance(depositor.stellar_address) == AMOUNT
    await _assert_invariants(sessions, worker_deps)
    credit = {f"deposit-credit:{op_id}", f"deposit-backing:{op_id}"}
    await assert_books_whole(sessions, op_id, {f"receipt:{txid}:{vout}", *credit, *(f"{t}:post" for t in credit)})
