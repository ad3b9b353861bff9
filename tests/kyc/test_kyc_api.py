"""KYC through the whole stack: API → Temporal workflow → activities → Postgres and the Soroban
sandbox's ``kyc_registry``."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest
from sqlalchemy import select
from temporalio.client import Client

from db.models import AuditLog
from domain.roles import Role
from tests.kyc.conftest import eventually, passport
from workflows.kyc import KycApprovalWorkflow

pytestmark = pytest.mark.usefixtures("custody_worker")


async def submit(client: httpx.AsyncClient, account, tier: int, **doc) -> httpx.Response:
    return await client.post(
        "/api/kyc/submit", json={"tier": tier, "verification_data": passport(**doc)}, headers=account.headers
    )


async def wait_stage(temporal_client: Client, workflow_id: str, stage: str) -> None:
    async def at_stage():
        state = await temporal_client.get_workflow_handle(workflow_id).query(KycApprovalWorkflow.get_state)
        return state.stage == stage

    await eventually(at_stage)


async def wait_status(record_status, record_id: str, status: str):
    async def reached():
        record = await record_status(record_id)
        return record if record is not None and record.status == status else None

    return await eventually(reached)


class TestSubmit:
    async def test_anonymous(self, api_client: httpx.AsyncClient) -> None:
        resp = await api_client.post("/api/kyc/submit", json={"tier": 1, "verification_data": passport()})
        assert resp.status_code == 401

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"tier": 0, "verification_data": passport()}, "tier"),
            ({"tier": 5, "verification_data": passport()}, "tier"),
            ({"tier": 1, "verification_data": {**passport(), "document_type": "library_card"}}, "verification_data.document_type"),
            ({"tier": 1, "verification_data": {"document_type": "passport", "document_number": "X1234"}}, "verification_data.full_name"),
        ],
    )
    async def test_invalid_input_is_422_naming_the_field(self, api_client, kyc_user, body, field) -> None:
        account, _ = await kyc_user()
        resp = await api_client.post("/api/kyc/submit", json=body, headers=account.headers)
        assert resp.status_code == 422
        assert field in [e["field"] for e in resp.json()["errors"]]
        assert "X1234" not in resp.text

    async def test_stellar_address_required(self, api_client, make_user) -> None:
        account = await make_user()
        resp = await submit(api_client, account, 1)
        assert resp.status_code == 422 and resp.json()["code"] == "stellar_address_required"
        assert resp.json()["errors"][0]["field"] == "stellar_address"


async def test_tier_one_is_approved_automatically_and_registered_on_chain(
    api_client, kyc_user, record_status, worker_deps
) -> None:
    account, address = await kyc_user()
    resp = await submit(api_client, account, 1)
    assert resp.status_code == 202, resp.text
    record = await wait_status(record_status, resp.json()["record_id"], "approved")
    assert record.expires_at is not None and record.approved_at is not None
    assert (record.expires_at - record.approved_at).days == 365
    assert await worker_deps.contracts.kyc.get_tier(address) == record.tier == 1

    status = (await api_client.get("/api/kyc/status", headers=account.headers)).json()
    assert status["status"] == "approved" and status["tier"] == 1
    assert status["limits"]["deposit"]["single_sats"] == 1_000_000
    assert status["limits"]["deposit"]["daily_left_sats"] == 5_000_000
    assert status["limits"]["withdrawal"] is None  # withdrawals need Verified


async def test_higher_tier_waits_for_an_officer_then_registers_on_chain(
    api_client, kyc_user, make_user, record_status, temporal_client, worker_deps, sessions
) -> None:
    account, address = await kyc_user()
    officer = await make_user(Role.COMPLIANCE_OFFICER)
    resp = await submit(api_client, account, 2)
    assert resp.status_code == 202
    record_id, workflow_id = resp.json()["record_id"], resp.json()["workflow_id"]

    again = await submit(api_client, account, 3)
    assert again.status_code == 409 and again.json()["code"] == "kyc_already_pending"

    await wait_stage(temporal_client, workflow_id, "awaiting_review")
    assert (await record_status(record_id)).status == "pending"

    decision = {"decision": "approve", "reason": "documents verified"}
    plain = await api_client.post(f"/api/admin/kyc/{record_id}/decision", json=decision, headers=account.headers)
    assert plain.status_code == 403

    ok = await api_client.post(f"/api/admin/kyc/{record_id}/decision", json=decision, headers=officer.headers)
    assert ok.status_code == 202, ok.text
    record = await wait_status(record_status, record_id, "approved")
    assert record.decided_by == officer.id
    assert await worker_deps.contracts.kyc.get_tier(address) == record.tier == 2

    twice = await api_client.post(f"/api/admin/kyc/{record_id}/decision", json=decision, headers=officer.headers)
    assert twice.status_code == 409 and twice.json()["code"] == "illegal_kyc_transition"

    async with sessions() as session:
        actions = (
            await session.execute(select(AuditLog.action, AuditLog.user_id).where(AuditLog.resource_id == record_id))
        ).all()
    assert sorted(a for a, _ in actions) == [
        "kyc.approved", "kyc.decision_submitted", "kyc.registered_on_chain", "kyc.submitted",
    ]
    assert dict(actions)["kyc.approved"] == officer.id


async def test_officer_cannot_decide_their_own_record(api_client, kyc_user, temporal_client) -> None:
    officer, _ = await kyc_user(Role.COMPLIANCE_OFFICER)
    resp = await submit(api_client, officer, 2)
    await wait_stage(temporal_client, resp.json()["workflow_id"], "awaiting_review")
    own = await api_client.post(
        f"/api/admin/kyc/{resp.json()['record_id']}/decision", json={"decision": "approve"}, headers=officer.headers
    )
    assert own.status_code == 403 and own.json()["code"] == "self_review"


async def test_rejection_needs_a_reason_and_the_user_may_submit_again(
    api_client, kyc_user, make_user, record_status, temporal_client
) -> None:
    account, _ = await kyc_user()
    officer = await make_user(Role.COMPLIANCE_OFFICER)
    resp = await submit(api_client, account, 2)
    record_id = resp.json()["record_id"]
    await wait_stage(temporal_client, resp.json()["workflow_id"], "awaiting_review")
    url = f"/api/admin/kyc/{record_id}/decision"
    no_reason = await api_client.post(url, json={"decision": "reject"}, headers=officer.headers)
    assert no_reason.status_code == 422 and no_reason.json()["code"] == "invalid_decision"
    rejected = await api_client.post(url, json={"decision": "reject", "reason": "blurred scan"}, headers=officer.headers)
    assert rejected.status_code == 202
    record = await wait_status(record_status, record_id, "rejected")
    assert record.decision_reason == "blurred scan"
    assert (await submit(api_client, account, 2)).status_code == 202


async def test_decision_from_the_temporal_ui_signal(api_client, kyc_user, make_user, record_status, temporal_client) -> None:
    account, _ = await kyc_user()
    officer = await make_user(Role.COMPLIANCE_OFFICER)
    resp = await submit(api_client, account, 2)
    workflow_id = resp.json()["workflow_id"]
    await wait_stage(temporal_client, workflow_id, "awaiting_review")
    handle = temporal_client.get_workflow_handle(workflow_id)
    # An invalid signal (the subject deciding) is ignored; a valid one is applied.
    await handle.signal("decide_signal", {"decision": "approve", "officer_id": str(account.id), "reason": "self"})
    await handle.signal("decide_signal", {"decision": "approve", "officer_id": str(officer.id), "reason": "ok"})
    record = await wait_status(record_status, resp.json()["record_id"], "approved")
    assert record.decided_by == officer.id


async def test_sanctions_hit_is_rejected_without_reaching_an_officer(
    api_client, kyc_user, record_status, temporal_client
) -> None:
    account, _ = await kyc_user()
    resp = await submit(api_client, account, 3, full_name="Ivan SANCTIONEDOV")
    record = await wait_status(record_status, resp.json()["record_id"], "rejected")
    assert record.decision_reason == "sanctions_screening_hit" and record.decided_by is None
    state = await temporal_client.get_workflow_handle(resp.json()["workflow_id"]).query(KycApprovalWorkflow.get_state)
    assert state.stage == "rejected"


async def test_review_queue_masks_document_numbers_and_nothing_leaks_them(
    api_client, kyc_user, make_user, record_status, temporal_client, sessions, caplog
) -> None:
    number = f"P{uuid.uuid4().int % 10**9:09d}"
    account, _ = await kyc_user()
    officer = await make_user(Role.COMPLIANCE_OFFICER)
    resp = await submit(api_client, account, 2, number=number)
    record_id, workflow_id = resp.json()["record_id"], resp.json()["workflow_id"]
    await wait_stage(temporal_client, workflow_id, "awaiting_review")

    queue = await api_client.get("/api/admin/kyc", params={"status": "pending", "limit": 100}, headers=officer.headers)
    assert queue.status_code == 200
    item = next(i for i in queue.json()["items"] if i["record_id"] == record_id)
    assert item["document_number_masked"] == "*" * (len(number) - 3) + number[-3:]
    assert (await api_client.get("/api/admin/kyc", headers=account.headers)).status_code == 403

    await api_client.post(f"/api/admin/kyc/{record_id}/decision", json={"decision": "approve"}, headers=officer.headers)
    await wait_status(record_status, record_id, "approved")
    status = await api_client.get("/api/kyc/status", headers=account.headers)

    history = await temporal_client.get_workflow_handle(workflow_id).fetch_history()
    async with sessions() as session:
        audit = (await session.execute(select(AuditLog).where(AuditLog.resource_id == record_id))).scalars().all()
    seen = [resp.text, queue.text, status.text, history.to_json(), caplog.text]
    seen += [json.dumps([a.old_values, a.new_values]) for a in audit]
    assert all(number not in text for text in seen)
