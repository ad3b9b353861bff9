"""Automatic detection: BTC sent to a deposit address without any POST is credited exactly once."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from config.settings import Settings
from contracts.deposits import ScanInput, ScanResult
from contracts.workflow_ids import DEPOSIT_SCAN_SCHEDULE_ID
from db.models import Operation
from tests.deposits.conftest import operations_and_mints, post_deposit
from workers.schedules import ensure_schedules, scheduled_workflows
from workflows.deposit_scan import DepositScanWorkflow

pytestmark = pytest.mark.usefixtures("custody_worker", "minting_enabled")


async def _scan(temporal_client, settings: Settings) -> ScanResult:
    return await temporal_client.execute_workflow(
        DepositScanWorkflow.run, ScanInput(grace_seconds=3600), id=f"deposit-scan-test-{uuid.uuid4()}",
        task_queue=settings.temporal.task_queue,
    )


async def test_a_deposit_nobody_posted_is_credited_once(
    temporal_client, settings, make_depositor, btc, wait_for, worker_deps, sessions
) -> None:
    depositor = await make_depositor()
    txid, vout = await btc.pay(depositor.deposit_address, 27_000)
    await btc.mine(1)

    first = await _scan(temporal_client, settings)
    async with sessions() as session:
        op = await session.scalar(select(Operation).where(Operation.outpoint == f"{txid}:{vout}"))
    assert first.recorded >= 1 and op is not None and op.meta["source"] == "detection"
    await wait_for(op.id, status="completed")
    await _scan(temporal_client, settings)  # scanning again changes nothing

    assert await operations_and_mints(sessions, txid, op.id) == (1, 1)
    assert await worker_deps.contracts.token.balance(depositor.stellar_address) == 27_000


async def test_a_post_after_detection_answers_the_detected_operation(
    temporal_client, settings, api_client, make_depositor, btc, wait_for
) -> None:
    depositor = await make_depositor()
    txid, vout = await btc.pay(depositor.deposit_address, 26_000)
    await btc.mine(1)
    await _scan(temporal_client, settings)

    response = await post_deposit(api_client, depositor, txid, vout, 26_000)

    assert response.status_code == 202
    op = await wait_for(response.json()["operation_id"], status="completed")
    assert op.meta["source"] == "detection"


async def test_the_scan_schedule_is_registered_at_the_configured_interval(temporal_client, settings) -> None:
    items = [i for i in scheduled_workflows(settings) if i.schedule_id == DEPOSIT_SCAN_SCHEDULE_ID]
    await ensure_schedules(temporal_client, settings, items)
    handle = temporal_client.get_schedule_handle(DEPOSIT_SCAN_SCHEDULE_ID)
    try:
        described = await handle.describe()
        assert described.schedule.spec.intervals[0].every.total_seconds() == settings.deposits.detection_interval_seconds
        assert described.schedule.action.workflow == "DepositScanWorkflow"
    finally:
        await handle.delete()
