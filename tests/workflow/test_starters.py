"""The typed starters start each workflow by name with its deterministic id and its search
attributes. No worker polls the task queue here: the runs stay pending, are described, then
terminated."""

from __future__ import annotations

import uuid

from temporalio.client import Client, WorkflowHandle
from temporalio.common import SearchAttributeKey

from contracts import search_attributes as sa
from contracts import starters
from contracts.deposits import DepositInput
from contracts.event_monitor import EventMonitorInput
from contracts.kyc import KycWorkflowInput
from contracts.payouts import BumpRequest, PayoutInput
from contracts.reconciliation import ChainPauseInput
from contracts.reserves import ProofInput
from contracts.withdrawals import WithdrawalInput


async def _described(handle: WorkflowHandle, keys: tuple[SearchAttributeKey, ...] = ()) -> tuple[str, dict]:
    description = await handle.describe()
    attributes = {key.name: description.typed_search_attributes.get(key) for key in keys}
    return description.workflow_type, attributes


async def test_deposit_starter_reuses_a_running_run_and_starts_again_after_a_failed_one(
    temporal_client: Client, task_queue: str
) -> None:
    txid = uuid.uuid4().hex * 2
    inp = DepositInput(str(uuid.uuid4()), str(uuid.uuid4()), txid, 1, 12_345)
    handle = await starters.start_deposit(temporal_client, inp, task_queue=task_queue)
    assert handle is not None and handle.id == f"deposit-{txid}:1"
    assert await _described(handle, sa.ALL) == ("DepositWorkflow", {
        "CustodyOperationType": "deposit", "CustodyStage": "received", "CustodyUserId": inp.user_id,
        "BtcTxId": txid, "AmountSats": 12_345,
    })
    again = await starters.start_deposit(temporal_client, inp, task_queue=task_queue)
    assert again is not None and again.result_run_id == handle.result_run_id
    await handle.terminate("test")  # counts as failed: a released claim may start a fresh run
    fresh = await starters.start_deposit(temporal_client, inp, task_queue=task_queue)
    assert fresh is not None and fresh.result_run_id != handle.result_run_id
    await fresh.terminate("test")


async def test_withdrawal_and_kyc_starters(temporal_client: Client, task_queue: str) -> None:
    op, user, record = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
    withdrawal = await starters.start_withdrawal(temporal_client, WithdrawalInput(op, user, 5_000), task_queue=task_queue)
    assert withdrawal is not None and withdrawal.id == f"withdrawal-{op}"
    again = await starters.start_withdrawal(temporal_client, WithdrawalInput(op, user, 5_000), task_queue=task_queue)
    assert again is not None and again.result_run_id == withdrawal.result_run_id  # a running one is reused
    assert await _described(withdrawal, sa.ALL) == ("WithdrawalWorkflow", {
        "CustodyOperationType": "withdrawal", "CustodyStage": "received", "CustodyUserId": user,
        "BtcTxId": None, "AmountSats": 5_000,
    })
    kyc = await starters.start_kyc_approval(temporal_client, KycWorkflowInput(record, user, 2), task_queue=task_queue)
    assert kyc is not None and kyc.id == f"kyc-{user}-{record}"
    assert await _described(kyc, (sa.OPERATION_TYPE, sa.STAGE, sa.USER_ID)) == ("KycApprovalWorkflow", {
        "CustodyOperationType": "kyc", "CustodyStage": "screening", "CustodyUserId": user,
    })
    for handle in (withdrawal, kyc):
        await handle.terminate("test")
    closed = await starters.start_withdrawal(temporal_client, WithdrawalInput(op, user, 5_000), task_queue=task_queue)
    assert closed is None  # a withdrawal's workflow runs once, whatever ended it


async def test_payout_proof_pause_and_monitor_starters(temporal_client: Client, task_queue: str) -> None:
    payout_id, proof_id, audit_id = str(uuid.uuid4()), uuid.uuid4(), uuid.uuid4()
    payout = await starters.start_payout(
        temporal_client, PayoutInput(payout_id), task_queue=task_queue, bump=BumpRequest(reason="stuck"),
    )
    assert payout.id == f"payout-{payout_id}" and (await _described(payout))[0] == "PayoutWorkflow"
    history = [event async for event in payout.fetch_history_events()]
    assert any(e.HasField("workflow_execution_signaled_event_attributes") for e in history)  # the bump came along
    proof = await starters.start_proof_of_reserves(temporal_client, ProofInput(proof_id=proof_id), task_queue=task_queue)
    assert proof.id == f"reserve-proof-{proof_id}" and (await _described(proof))[0] == "ProofOfReservesWorkflow"
    pause = await starters.start_chain_pause(
        temporal_client, ChainPauseInput(f"test:{audit_id}", True), task_queue=task_queue, audit_id=audit_id,
    )
    assert pause.id == f"chain-pause-{audit_id}" and (await _described(pause))[0] == "ChainPauseWorkflow"
    for handle in (payout, proof, pause):
        await handle.terminate("test")
    monitor_queue = f"{task_queue}-monitor"
    monitor = await starters.start_event_monitor(temporal_client, EventMonitorInput(name="test"), task_queue=monitor_queue)
    assert monitor.id == "event-monitor" and (await _described(monitor))[0] == "EventMonitorWorkflow"
    description = await monitor.describe()
    if description.task_queue == monitor_queue:  # ours (a shared server may run the real monitor)
        await monitor.terminate("test")
