"""Starting a ``DepositWorkflow`` from a client (the API, the detection scan): one place, so both
start it the same way.

Client-side only (``temporalio.client``); workflow code never imports this module.
"""

from __future__ import annotations

from temporalio.client import Client
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError

from activities.deposit_types import DepositInput
from domain.operations import OperationStage, OperationType
from domain.workflow_ids import deposit_workflow_id
from workflows import search_attributes as sa

WORKFLOW_NAME = "DepositWorkflow"


async def start_deposit_workflow(client: Client, inp: DepositInput, *, task_queue: str) -> bool:
    """Make sure the deposit's workflow runs; False when a closed run forbids a new one.

    A running workflow with the id is reused (concurrent identical requests converge on it). A
    closed one blocks a new run unless it *failed*: a failed claim released its outpoint, and a
    new claim of the same outpoint (the rightful owner, or detection) needs a fresh run.
    """
    try:
        await client.start_workflow(
            WORKFLOW_NAME,
            inp,
            id=deposit_workflow_id(inp.txid, inp.vout),
            task_queue=task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
            search_attributes=TypedSearchAttributes([
                SearchAttributePair(sa.OPERATION_TYPE, OperationType.DEPOSIT.value),
                SearchAttributePair(sa.STAGE, OperationStage.RECEIVED.value),
                SearchAttributePair(sa.USER_ID, inp.user_id),
                SearchAttributePair(sa.BTC_TXID, inp.txid),
                SearchAttributePair(sa.AMOUNT_SATS, inp.amount_sats),
            ]),
            static_summary=f"deposit {inp.amount_sats} sats, operation {inp.operation_id}",
        )
    except WorkflowAlreadyStartedError:
        return False
    return True
