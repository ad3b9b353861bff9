"""Issue 9's part of the worker: proof of reserves, reconciliation, pause, event monitor.

``workers/registry.py`` adds :data:`WORKFLOWS` and :func:`activities` to its lists.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from activities.event_monitor import EventMonitorActivities
from activities.pause import PauseActivities
from activities.proof_key import load_signing_key
from activities.reconciliation import ReconciliationActivities
from activities.reserves import ProofActivities
from workflows.chain_pause import ChainPauseWorkflow
from workflows.event_monitor import EventMonitorWorkflow
from workflows.proof_of_reserves import ProofOfReservesWorkflow
from workflows.reconciliation import ReconciliationWorkflow

if TYPE_CHECKING:
    from workers.registry import WorkerDeps

WORKFLOWS: list[type] = [ProofOfReservesWorkflow, ReconciliationWorkflow, ChainPauseWorkflow, EventMonitorWorkflow]


def activities(deps: WorkerDeps) -> list[Callable[..., Any]]:
    """Every activity of issue 9, bound to the worker's clients.

    Raises:
        SigningKeyMissing: no proof-signing key is configured.
    """
    s = deps.settings
    proof = ProofActivities(s, deps.sessions, deps.esplora, deps.wallet, deps.contracts, deps.submitter, load_signing_key(s.reserves))
    recon = ReconciliationActivities(s, deps.sessions, deps.esplora, deps.wallet, deps.contracts)
    pause = PauseActivities(deps.sessions, deps.contracts, deps.submitter)
    monitor = EventMonitorActivities(s, deps.sessions, deps.soroban.server, deps.soroban.contracts)
    return [
        proof.snapshot_reserves, proof.build_liability_tree, proof.sign_reserve_proof, proof.publish_reserve_proof,
        recon.reconcile, pause.pause_engine_for_emergency, pause.apply_chain_pause, monitor.poll_contract_events,
    ]
