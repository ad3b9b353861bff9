"""Proof of reserves on demand: start a ``ProofOfReservesWorkflow`` now (nothing is recorded
first: the workflow writes the proof's rows itself, and its id is derived from the proof id the
caller gets back)."""

from __future__ import annotations

import uuid

from contracts import reserves as reserves_contract
from contracts.reserves import ProofInput
from contracts.workflow_ids import proof_workflow_id
from services.actor import Actor
from services.state import AppState


async def request_proof(state: AppState, actor: Actor) -> tuple[uuid.UUID, str]:
    """Start a proof of reserves requested by ``actor``; returns its proof id and workflow id.

    Raises:
        TemporalUnavailable: nothing was started.
    """
    proof_id = uuid.uuid4()
    workflow_id = await state.temporal.start(
        reserves_contract.WORKFLOW, ProofInput(proof_id=proof_id, requested_by=actor.user.id),
        workflow_id=proof_workflow_id(proof_id), task_queue=state.settings.temporal.task_queue,
    )
    return proof_id, workflow_id
