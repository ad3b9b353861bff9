"""``ProofOfReservesWorkflow``: scan → snapshot → Merkle-sum tree → signed document → published root.

Assets: the custody UTXO set at the scanned height (its block cross-checked against the chain).
Liabilities: the books at the journal position the tree's snapshot pins.

Scheduled (``reserve-proof``, daily by default) and on demand (``POST /api/admin/reserves/proof``,
workflow id ``reserve-proof-<proof_id>``). Only ids and small figures travel through history;
the tree and the document live in Postgres (docs/DESIGN.md §8).
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from contracts import deposits as scan
    from contracts import reserves as t
    from contracts.reserves import ProofInput, ProofResult, ProofStepInput

SCAN_START_TO_CLOSE = timedelta(minutes=10)
SCAN_HEARTBEAT = timedelta(seconds=60)
SNAPSHOT_START_TO_CLOSE = timedelta(minutes=5)
TREE_START_TO_CLOSE = timedelta(minutes=30)
TREE_HEARTBEAT = timedelta(seconds=30)
SIGN_START_TO_CLOSE = timedelta(seconds=30)
PUBLISH_START_TO_CLOSE = timedelta(minutes=5)
RETRY = RetryPolicy(initial_interval=timedelta(seconds=2), maximum_interval=timedelta(minutes=1), maximum_attempts=10)


@workflow.defn(name=t.WORKFLOW)
class ProofOfReservesWorkflow:
    """Query ``get_stage`` returns the current stage (``snapshot``, ``tree``, ``signing``, ``publishing``, ``done``)."""

    def __init__(self) -> None:
        self.stage = "snapshot"

    @workflow.query(name=t.GET_STAGE_QUERY)
    def get_stage(self) -> str:
        """The current stage."""
        return self.stage

    @workflow.run
    async def run(self, inp: ProofInput) -> ProofResult:
        """Build, sign and publish one proof of reserves."""
        proof_id = inp.proof_id or workflow.uuid4()
        step = ProofStepInput(proof_id)
        if workflow.patched("scan-before-proof"):
            # Bring the custody UTXO set up to the chain first: the proof pins the scanned height.
            await workflow.execute_activity(
                scan.scan_deposit_addresses, scan.ScanInput(grace_seconds=3600),
                start_to_close_timeout=SCAN_START_TO_CLOSE, heartbeat_timeout=SCAN_HEARTBEAT, retry_policy=RETRY,
            )
        # Pin the scanned Bitcoin height (still canonical) and the Stellar ledger; sum the UTXO set.
        await workflow.execute_activity(
            t.snapshot_reserves, ProofStepInput(proof_id),
            start_to_close_timeout=SNAPSHOT_START_TO_CLOSE, retry_policy=RETRY,
        )
        # Build the liability tree from Postgres rows and store it beside the proof.
        self.stage = "tree"
        tree = await workflow.execute_activity(
            t.build_liability_tree, step,
            start_to_close_timeout=TREE_START_TO_CLOSE, heartbeat_timeout=TREE_HEARTBEAT, retry_policy=RETRY,
        )
        # Sign the canonical document with the engine key.
        self.stage = "signing"
        signed = await workflow.execute_activity(
            t.sign_reserve_proof, step, start_to_close_timeout=SIGN_START_TO_CLOSE, retry_policy=RETRY,
        )
        # Publish proof hash, root and totals on reserve_manager (exactly once).
        self.stage = "publishing"
        tx_hash = await workflow.execute_activity(
            t.publish_reserve_proof, step,
            start_to_close_timeout=PUBLISH_START_TO_CLOSE, retry_policy=RETRY,
        )
        self.stage = "done"
        return ProofResult(proof_id, tree.root_hash, signed.ratio_bps, signed.reserve_status, tx_hash)
