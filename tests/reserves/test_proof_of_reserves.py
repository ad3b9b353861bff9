"""The proof-of-reserves workflow end to end: snapshot, tree from Postgres, signature, publication
on reserve_manager, then ``GET /api/reserves/proof`` gives a file ``verify-proof`` accepts."""

from __future__ import annotations

import uuid

from activities.proof_key import load_signing_key
from contracts.reserves import ProofInput
from contracts.workflow_ids import proof_workflow_id
from domain.proof_document import public_key_hex, verify_proof_file
from domain.roles import Role
from tests.reserves.conftest import maybe_record
from workflows.proof_of_reserves import ProofOfReservesWorkflow


async def test_proof_is_published_and_each_user_can_verify_their_leaf(
    temporal_client, engine_worker, api_client, make_user, chain_user, worker_deps, settings
) -> None:
    alice = await chain_user(minted=0, db_balance=12_345)
    proof_id = uuid.uuid4()
    result = await temporal_client.execute_workflow(
        ProofOfReservesWorkflow.run, ProofInput(proof_id=proof_id), id=proof_workflow_id(proof_id),
        task_queue=engine_worker.task_queue,
    )
    await maybe_record(temporal_client, proof_workflow_id(proof_id), "proof_of_reserves")
    on_chain = await worker_deps.contracts.reserve.get_latest_proof()
    assert on_chain.liabilities_root.hex() == result.root_hash
    user_token = await _token_for(alice.user_id, settings)
    resp = await api_client.get("/api/reserves/proof", headers={"Authorization": f"Bearer {user_token}"})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["proof"]["proof_id"] == str(proof_id) and body["published_tx_hash"]
    assert body["inclusion"]["balance"] == 12_345
    key = public_key_hex(load_signing_key(settings.reserves))
    report = verify_proof_file(body, expected_public_key=key)
    assert report.ok, report.problems
    assert bytes.fromhex(body["proof"]["root_hash"]) == on_chain.liabilities_root
    status = (await api_client.get("/api/reserves/status", headers={"Authorization": f"Bearer {user_token}"})).json()
    assert status["ratio_bps"] == result.ratio_bps and status["status"] == result.reserve_status


async def _token_for(user_id, settings) -> str:
    from api.auth.services import AuthServices

    return AuthServices.from_settings(settings).tokens.issue(user_id=user_id, role=Role.USER).token


async def test_admin_requests_a_proof_on_demand(api_client, make_user, custody_queue_worker, temporal_client) -> None:
    user, admin = await make_user(), await make_user(Role.ADMIN)
    assert (await api_client.post("/api/admin/reserves/proof", headers=user.headers)).status_code == 403
    resp = await api_client.post("/api/admin/reserves/proof", headers=admin.headers)
    assert resp.status_code == 202, resp.text
    result = await temporal_client.get_workflow_handle(resp.json()["workflow_id"]).result()
    assert result["proof_id"] == resp.json()["proof_id"] and result["published_tx_hash"]
