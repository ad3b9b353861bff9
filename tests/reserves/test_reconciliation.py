"""Reconciliation flags books that disagree with the chain with the asymmetric severity of the
books issue: more in the books than on chain is a warning; iSTSi on chain the books do not know
(minted outside the engine) is an unexplained shortfall that pauses the engine and the router
until an admin resumes through the API."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from contracts.reconciliation import ReconciliationInput
from db.models import ReconciliationDiscrepancy, ReconciliationRun
from db.queries.system_state import get_pause
from domain.roles import Role
from tests.reserves.conftest import maybe_record
from workflows.reconciliation import ReconciliationWorkflow


async def _user_findings(sessions, run_id, users) -> dict:
    async with sessions() as session:
        rows = (await session.execute(
            select(ReconciliationDiscrepancy).where(ReconciliationDiscrepancy.run_id == run_id)
        )).scalars().all()
    return {r.user_id: r for r in rows if r.check_name == "user_balance" and r.user_id in users}


async def test_tamper_and_chain_mismatch_are_flagged_and_emergency_pauses_until_resume(
    temporal_client, engine_worker, custody_queue_worker, sessions, worker_deps, chain_user, make_user, api_client
) -> None:
    contracts = worker_deps.contracts
    tampered = await chain_user(minted=10_000, db_balance=10_350)  # the books say 3.5 % more: a surplus
    outside = await chain_user(minted=1_000, db_balance=900)  # 100 iSTSi on chain the books never issued
    admin = await make_user(Role.ADMIN)
    try:
        wf_id = f"test-reconciliation-{uuid.uuid4().hex[:8]}"
        report = await temporal_client.execute_workflow(
            ReconciliationWorkflow.run, ReconciliationInput(auto_pause=True), id=wf_id, task_queue=engine_worker.task_queue
        )
        await maybe_record(temporal_client, wf_id, "reconciliation")
        findings = await _user_findings(sessions, report.run_id, {tampered.user_id, outside.user_id})
        assert (findings[tampered.user_id].expected_sats, findings[tampered.user_id].actual_sats) == (10_000, 10_350)
        assert (findings[tampered.user_id].diff_bps, findings[tampered.user_id].severity) == (350, "warning")
        assert (findings[outside.user_id].diff_sats, findings[outside.user_id].diff_bps) == (-100, 1000)
        assert findings[outside.user_id].severity == "emergency"
        assert report.max_severity == "emergency" and report.paused
        async with sessions() as session:
            pause = await get_pause(session)
            run = await session.get(ReconciliationRun, report.run_id)
        assert pause.minting and pause.withdrawals and run is not None and run.paused
        assert await contracts.router.is_paused()
    finally:
        resp = await api_client.post("/api/admin/system/resume", headers=admin.headers)
        assert resp.status_code == 200, resp.text
        await temporal_client.get_workflow_handle(resp.json()["chain_workflow_id"]).result()
    async with sessions() as session:
        assert not (await get_pause(session)).minting
    assert not await contracts.router.is_paused()


async def test_dry_run_records_but_does_not_pause(temporal_client, engine_worker, sessions, chain_user) -> None:
    tampered = await chain_user(minted=2_000, db_balance=2_030)  # 150 bps: warning
    report = await temporal_client.execute_workflow(
        ReconciliationWorkflow.run, ReconciliationInput(auto_pause=False),
        id=f"test-reconciliation-{uuid.uuid4().hex[:8]}", task_queue=engine_worker.task_queue,
    )
    assert not report.paused
    finding = (await _user_findings(sessions, report.run_id, {tampered.user_id}))[tampered.user_id]
    assert (finding.diff_bps, finding.severity) == (150, "warning")
    async with sessions() as session:
        assert not (await get_pause(session)).minting
