"""A withdrawal is recorded and committed before its workflow starts: when Temporal is down at the
start nothing is lost (the row, its hold and its audit row stay), and a retry with the same
Idempotency-Key starts the workflow, once."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from temporalio.service import RPCError, RPCStatusCode

from db.models import AuditLog
from db.queries import operations
from tests.api.temporal_down import temporal_down
from tests.withdrawals.conftest import recipient_address

URL = "/api/integration/token-withdrawal"
ABOVE = 5_000_000  # above the approval threshold: the workflow then waits, a stable place to look


@pytest.mark.usefixtures("custody_worker", "system_unpaused")
async def test_a_failed_start_loses_nothing_and_the_retry_starts_it_once(
    api_client, app_state, holder, read, sessions, temporal_client,
) -> None:
    h = await holder([ABOVE + 100_000])
    headers = {**h.headers, "Idempotency-Key": "wd-temporal-down"}
    payload = {"token_amount": ABOVE, "btc_address": recipient_address()}
    with temporal_down(app_state):
        down = await api_client.post(URL, headers=headers, json=payload)
    assert (down.status_code, down.json()["code"]) == (503, "temporal_unavailable"), down.text

    async with sessions() as s:
        op = await operations.get_by_idempotency_key(s, idempotency_key=f"withdrawal:{h.account.id}:wd-temporal-down")
        assert op is not None, "the request was lost"
        assert (op.status, op.stage, op.amount) == ("pending", "received", ABOVE)
        audits = (await s.execute(select(AuditLog.action).where(AuditLog.resource_id == str(op.id)))).scalars().all()
    assert "withdrawal.requested" in audits
    assert down.json()["operation_id"] == str(op.id)  # the answer names what was recorded
    assert (await read.balance(h.account.id)).reserved_balance == ABOVE  # the hold stays
    assert op.workflow_id is not None
    with pytest.raises(RPCError) as absent:
        await temporal_client.get_workflow_handle(op.workflow_id).describe()
    assert absent.value.status == RPCStatusCode.NOT_FOUND  # nothing started while Temporal was down

    retried = await api_client.post(URL, headers=headers, json=payload)
    assert retried.status_code == 202, retried.text
    assert retried.json()["operation_id"] == str(op.id)
    first_run = (await temporal_client.get_workflow_handle(op.workflow_id).describe()).run_id
    again = await api_client.post(URL, headers=headers, json=payload)
    assert (again.status_code, again.json()["operation_id"]) == (202, str(op.id)), again.text
    assert (await temporal_client.get_workflow_handle(op.workflow_id).describe()).run_id == first_run  # once
    assert (await read.balance(h.account.id)).reserved_balance == ABOVE  # held once

    await read.wait(str(op.id), stage="awaiting_approval")
    cancel = await api_client.post(f"/api/integration/operations/{op.id}/cancel", headers=h.headers)
    assert cancel.status_code == 202, cancel.text
    await read.wait(str(op.id), status="cancelled")
    assert (await read.balance(h.account.id)).reserved_balance == 0


@pytest.mark.usefixtures("custody_worker", "system_unpaused")
async def test_a_failed_start_without_a_key_is_started_by_the_scheduled_scan(
    api_client, app_state, holder, read, sessions, temporal_client, settings,
) -> None:
    """Sent without an Idempotency-Key, a retry would be a second withdrawal: the recorded one is
    accepted (202) and the scheduled scan's heal starts its workflow."""
    import uuid

    from contracts.deposits import ScanInput
    from workflows.deposit_scan import DepositScanWorkflow

    h = await holder([ABOVE + 100_000])
    with temporal_down(app_state):
        down = await api_client.post(URL, headers=h.headers, json={"token_amount": ABOVE, "btc_address": recipient_address()})
    assert down.status_code == 202, down.text  # accepted: a client retrying a 503 would withdraw twice
    op_id = down.json()["operation_id"]
    assert (await read.balance(h.account.id)).reserved_balance == ABOVE  # held once, and nothing runs yet
    with pytest.raises(RPCError) as absent:
        await temporal_client.get_workflow_handle(f"withdrawal-{op_id}").describe()
    assert absent.value.status == RPCStatusCode.NOT_FOUND

    result = await temporal_client.execute_workflow(
        DepositScanWorkflow.run, ScanInput(grace_seconds=0), id=f"deposit-scan-test-{uuid.uuid4()}",
        task_queue=settings.temporal.task_queue,
    )
    assert result.started >= 1
    await read.wait(op_id, stage="awaiting_approval")  # the withdrawal goes on as if started at once
    cancel = await api_client.post(f"/api/integration/operations/{op_id}/cancel", headers=h.headers)
    assert cancel.status_code == 202, cancel.text
    await read.wait(op_id, status="cancelled")
    assert (await read.balance(h.account.id)).reserved_balance == 0
