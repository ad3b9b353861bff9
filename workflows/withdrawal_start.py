"""Starting a ``WithdrawalWorkflow`` from a worker (the scheduled scan's heal of a withdrawal whose
start failed after its row committed): the API's start, with the same id, policies and search
attributes (``services.withdrawals``).

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

from activities.withdrawal_types import WithdrawalInput
from domain.operations import OperationStage, OperationType
from domain.withdrawals import withdrawal_workflow_id
from workflows import search_attributes as sa

WORKFLOW_NAME = "WithdrawalWorkflow"


async def start_withdrawal_workflow(client: Client, inp: WithdrawalInput, *, task_queue: str) -> bool:
    """Make sure the withdrawal's workflow runs; False when it ran already (a withdrawal's
    workflow runs once: a closed run is never started again).

    A running workflow with the id is reused, so a heal racing the API's own start is harmless.
    """
    try:
        await client.start_workflow(
            WORKFLOW_NAME,
            inp,
            id=withdrawal_workflow_id(inp.operation_id),
            task_queue=task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            search_attributes=TypedSearchAttributes([
                SearchAttributePair(sa.OPERATION_TYPE, OperationType.WITHDRAWAL.value),
                SearchAttributePair(sa.STAGE, OperationStage.RECEIVED.value),
                SearchAttributePair(sa.USER_ID, inp.user_id),
                SearchAttributePair(sa.AMOUNT_SATS, inp.amount_sats),
            ]),
        )
    except WorkflowAlreadyStartedError:
        return False
    return True
