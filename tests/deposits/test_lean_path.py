"""The lean deposit path (issue 15): a happy-path deposit runs at most six activities on the real
Temporal server, with no separate projection activity, while the operation row, its audit rows,
``CustodyStage`` and the WebSocket feed still show every stage it passes through."""

from __future__ import annotations

import os

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from contracts import deposits as t
from contracts import search_attributes as sa
from db.queries import operations
from tests.deposits.conftest import post_deposit
from tests.workflow.record_history import save_history

pytestmark = pytest.mark.usefixtures("custody_worker", "minting_enabled")
#: The ceiling of issue 15; the bench's bare baseline runs as many no-op activities.
MAX_HAPPY_PATH_ACTIVITIES = 6
LEAN_ACTIVITIES = [t.PLAN, t.OBSERVE, t.CHECK_POLICY, t.CHECK_SOLVENCY, t.MINT, t.CREDIT]
STAGES = ["verifying", "awaiting_confirmations", "kyc_check", "solvency_check", "minting", "completed"]


async def _scheduled_activities(client: Client, workflow_id: str) -> list[str]:
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    return [e.activity_task_scheduled_event_attributes.activity_type.name for e in history.events
            if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED]


async def _published_stages(client: Client, workflow_id: str) -> list[str]:
    """Every ``CustodyStage`` value the workflow upserted, in order."""
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    converter = client.data_converter.payload_converter
    stages = []
    for e in history.events:
        if e.event_type == EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
            fields = e.upsert_workflow_search_attributes_event_attributes.search_attributes.indexed_fields
            if sa.STAGE.name in fields:
                stages.append(converter.from_payload(fields[sa.STAGE.name], str))
    return stages


async def test_a_confirmed_deposit_runs_six_activities_and_shows_every_stage(
    api_client, make_depositor, btc, wait_for, sessions, temporal_client
) -> None:
    depositor = await make_depositor()
    txid, vout = await btc.pay(depositor.deposit_address, 52_000)
    await btc.mine(1)  # deep enough (test depth 1) at the first look: no second depth poll

    response = await post_deposit(api_client, depositor, txid, vout, 52_000)
    assert response.status_code == 202, response.text
    op = await wait_for(response.json()["operation_id"], status="completed")
    workflow_id = response.json()["workflow_id"]
    await temporal_client.get_workflow_handle(workflow_id).result()

    scheduled = await _scheduled_activities(temporal_client, workflow_id)
    assert len(scheduled) <= MAX_HAPPY_PATH_ACTIVITIES, scheduled
    assert scheduled == LEAN_ACTIVITIES
    assert await _published_stages(temporal_client, workflow_id) == STAGES
    async with sessions() as session:
        history = await operations.stage_history(session, operation_id=op.id)
    assert [stage for stage, _, _ in history] == ["received", *STAGES]
    assert [status for _, status, _ in history] == ["pending"] + ["processing"] * 5 + ["completed"]
    assert (op.confirmations, op.required_confirmations, op.error, op.waiting_for) == (1, 1, None, None)
    if os.environ.get("RECORD_HISTORIES"):  # refresh the golden history for test_replay
        await save_history(temporal_client, workflow_id, "deposit_lean")


async def test_a_deposit_waiting_for_its_block_adds_only_depth_polls(
    api_client, make_depositor, btc, wait_for, sessions, temporal_client
) -> None:
    depositor = await make_depositor()
    txid, vout = await btc.pay(depositor.deposit_address, 53_000)

    response = await post_deposit(api_client, depositor, txid, vout, 53_000)
    assert response.status_code == 202, response.text
    op_id, workflow_id = response.json()["operation_id"], response.json()["workflow_id"]
    waiting = await wait_for(op_id, stage="awaiting_confirmations")
    assert (waiting.status, waiting.confirmations, waiting.required_confirmations) == ("processing", 0, 1)
    await btc.mine(1)
    await wait_for(op_id, status="completed")
    await temporal_client.get_workflow_handle(workflow_id).result()

    scheduled = await _scheduled_activities(temporal_client, workflow_id)
    polls = scheduled.count(t.OBSERVE)
    assert polls >= 2 and t.UPDATE not in scheduled
    assert [a for a in scheduled if a != t.OBSERVE] == [t.PLAN, t.CHECK_POLICY, t.CHECK_SOLVENCY, t.MINT, t.CREDIT]
    assert await _published_stages(temporal_client, workflow_id) == STAGES
    async with sessions() as session:
        history = await operations.stage_history(session, operation_id=op_id)
    assert [stage for stage, _, _ in history] == ["received", *STAGES]
