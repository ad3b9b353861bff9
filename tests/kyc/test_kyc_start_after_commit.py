"""A KYC submission is committed before its workflow starts: when Temporal is down at the start
the pending record stays (503), and the next submission, or else the scheduled scan's heal, starts
its workflow, once."""

from __future__ import annotations

import uuid

import pytest
from temporalio.service import RPCError, RPCStatusCode

from contracts.deposits import ScanInput
from db.queries import kyc as kyc_q
from tests.api.temporal_down import temporal_down
from tests.kyc.conftest import eventually, passport
from workflows.deposit_scan import DepositScanWorkflow
from workflows.kyc import KycApprovalWorkflow

pytestmark = pytest.mark.usefixtures("custody_worker")


async def test_a_failed_start_keeps_the_record_and_the_next_submission_starts_it(
    api_client, app_state, kyc_user, sessions, temporal_client,
) -> None:
    account, _ = await kyc_user()
    body = {"tier": 2, "verification_data": passport()}
    with temporal_down(app_state):
        down = await api_client.post("/api/kyc/submit", json=body, headers=account.headers)
    assert (down.status_code, down.json()["code"]) == (503, "temporal_unavailable"), down.text
    async with sessions() as s:
        record = await kyc_q.latest_record(s, user_id=account.id)
    assert record is not None and record.status == "pending" and record.workflow_id
    with pytest.raises(RPCError) as absent:
        await temporal_client.get_workflow_handle(record.workflow_id).describe()
    assert absent.value.status == RPCStatusCode.NOT_FOUND

    again = await api_client.post("/api/kyc/submit", json=body, headers=account.headers)
    assert (again.status_code, again.json()["code"]) == (409, "kyc_already_pending"), again.text
    handle = temporal_client.get_workflow_handle(record.workflow_id)
    first_run = (await handle.describe()).run_id

    async def awaiting_review() -> bool:
        return (await handle.query(KycApprovalWorkflow.get_state)).stage == "awaiting_review"

    await eventually(awaiting_review)  # the record's own workflow took it up
    third = await api_client.post("/api/kyc/submit", json=body, headers=account.headers)
    assert third.status_code == 409
    assert (await handle.describe()).run_id == first_run  # started once


async def test_a_failed_start_is_healed_by_the_scheduled_scan_without_a_second_submission(
    api_client, app_state, kyc_user, sessions, temporal_client, settings,
) -> None:
    """The user does not come back: the scan's heal starts the pending record's workflow, once."""
    account, _ = await kyc_user()
    with temporal_down(app_state):
        down = await api_client.post("/api/kyc/submit", json={"tier": 2, "verification_data": passport()},
                                     headers=account.headers)
    assert down.status_code == 503, down.text
    async with sessions() as s:
        record = await kyc_q.latest_record(s, user_id=account.id)
    assert record is not None and record.status == "pending" and record.workflow_id

    async def scan() -> int:
        return (await temporal_client.execute_workflow(
            DepositScanWorkflow.run, ScanInput(grace_seconds=0), id=f"deposit-scan-test-{uuid.uuid4()}",
            task_queue=settings.temporal.task_queue,
        )).started

    assert await scan() >= 1
    handle = temporal_client.get_workflow_handle(record.workflow_id)

    async def awaiting_review() -> bool:
        return (await handle.query(KycApprovalWorkflow.get_state)).stage == "awaiting_review"

    await eventually(awaiting_review)
    first_run = (await handle.describe()).run_id
    await scan()  # a second scan asks again: the running workflow is reused, never restarted
    assert (await handle.describe()).run_id == first_run
