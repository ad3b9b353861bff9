"""Issue 14: KYC data a later step needs is checked at submit (422 naming the field, with a code),
so an approval never fails on it; records from before the check get a way forward
(``PUT /api/kyc/records/{id}``) and never wait on an operator for it."""

from __future__ import annotations

import uuid

import pytest
from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker

from contracts import kyc as t
from contracts.deposits import KycChanged
from contracts.kyc import KycWorkflowInput
from db.encryption import RecordCipher
from db.models import AuditLog, KycRecord
from domain.kyc import KycStatus
from tests.kyc.conftest import eventually, passport
from workflows.kyc import KycApprovalWorkflow
from workflows.operator_control import OperatorAction

pytestmark = pytest.mark.usefixtures("custody_worker")
SEED_PAYLOAD = {  # docs/SEED.md's own example submission: no country
    "tier": 2, "verification_data": {"document_type": "passport", "document_number": "123456789", "full_name": "John Doe"},
}


async def test_the_seeds_example_without_country_is_422_naming_the_field(api_client, kyc_user, sessions) -> None:
    account, _ = await kyc_user()
    resp = await api_client.post("/api/kyc/submit", json=SEED_PAYLOAD, headers=account.headers)
    assert resp.status_code == 422
    body = resp.json()
    assert body["code"] == "validation_error"
    first = body["errors"][0]
    assert (first["field"], first["code"]) == ("verification_data.country", "field_required")
    assert "123456789" not in resp.text
    status = (await api_client.get("/api/kyc/status", headers=account.headers)).json()
    assert status["status"] == "none"  # nothing recorded, nothing waits anywhere


@pytest.mark.parametrize("country", ["XK", "ZZ", "CHE", "1A", ""])
async def test_a_country_that_is_not_iso_3166_alpha_2_is_422(api_client, kyc_user, country) -> None:
    account, _ = await kyc_user()
    resp = await api_client.post("/api/kyc/submit", json={"tier": 1, "verification_data": passport(country=country)},
                                 headers=account.headers)
    assert resp.status_code == 422
    assert resp.json()["errors"][0] == {**resp.json()["errors"][0], "field": "verification_data.country",
                                        "code": "country_unknown"}


async def test_lower_case_country_is_accepted_and_registered(api_client, kyc_user, record_status) -> None:
    account, _ = await kyc_user()
    resp = await api_client.post("/api/kyc/submit", json={"tier": 1, "verification_data": passport(country="ch")},
                                 headers=account.headers)
    assert resp.status_code == 202, resp.text
    record = await eventually(lambda: _approved(record_status, resp.json()["record_id"]))
    assert record.jurisdiction == "CH"


async def _approved(record_status, record_id):
    record = await record_status(record_id)
    return record if record is not None and record.status == "approved" else None


async def test_a_tier_below_the_approved_one_is_422(api_client, make_user, approve_kyc) -> None:
    account = await make_user()
    await approve_kyc(account.id, tier=3)
    resp = await api_client.post("/api/kyc/submit", json={"tier": 2, "verification_data": passport()},
                                 headers=account.headers)
    assert resp.status_code == 422
    assert (resp.json()["code"], resp.json()["errors"][0]["field"]) == ("tier_below_current", "tier")


async def test_a_tier_without_configured_limits_is_422(api_client, app_state, monkeypatch, kyc_user, settings) -> None:
    limits = {k: v for k, v in settings.kyc.tier_limits.items() if k != 4}
    no_tier_4 = settings.model_copy(update={"kyc": settings.kyc.model_copy(update={"tier_limits": limits})})
    monkeypatch.setattr(app_state, "settings", no_tier_4)
    account, _ = await kyc_user()
    resp = await api_client.post("/api/kyc/submit", json={"tier": 4, "verification_data": passport()}, headers=account.headers)
    assert resp.status_code == 422
    assert (resp.json()["code"], resp.json()["errors"][0]["field"]) == ("tier_not_offered", "tier")


async def _legacy_record(sessions, settings, account_id: uuid.UUID, tier: int) -> uuid.UUID:
    """A pending record as submissions were stored before ``country`` was required."""
    record_id = uuid.uuid4()
    cipher = RecordCipher(settings.kyc.encryption_keys, settings.kyc.active_key_id)
    document = {"document_type": "passport", "document_number": "123456789", "full_name": "John Doe"}
    async with sessions() as session, session.begin():
        session.add(KycRecord(
            id=record_id, user_id=account_id, tier=tier, status=KycStatus.PENDING.value, jurisdiction=None,
            verification_data=cipher.encrypt(document, record_id=str(record_id)), encryption_key_id=cipher.active_key_id,
            workflow_id=f"kyc-{account_id}-{record_id}",
        ))
    return record_id


async def test_a_record_without_country_waits_for_the_user_who_supplies_it_with_put(
    api_client, kyc_user, sessions, settings, temporal_client: Client, record_status, worker_deps
) -> None:
    account, address = await kyc_user()
    record_id = await _legacy_record(sessions, settings, account.id, tier=1)
    workflow_id = f"kyc-{account.id}-{record_id}"
    await temporal_client.start_workflow(
        KycApprovalWorkflow.run, KycWorkflowInput(str(record_id), str(account.id), 1), id=workflow_id,
        task_queue=settings.temporal.task_queue,
    )

    async def waiting_for_user():
        state = await temporal_client.get_workflow_handle(workflow_id).query(KycApprovalWorkflow.get_state)
        if state.stage == "needs_attention":  # parked: fail at once, waiting would not change it
            pytest.fail(f"the approval parked instead of waiting for the user: {state}")
        return state.stage == "awaiting_user_data"

    await eventually(waiting_for_user)
    status = (await api_client.get("/api/kyc/status", headers=account.headers)).json()
    assert status["missing_fields"] == ["verification_data.country"]
    assert f"PUT /api/kyc/records/{record_id}" in status["action"]

    again = await api_client.post("/api/kyc/submit", json={"tier": 1, "verification_data": passport()},
                                  headers=account.headers)
    assert again.status_code == 409 and again.json()["record_id"] == str(record_id)
    assert f"PUT /api/kyc/records/{record_id}" in again.json()["detail"]

    bad = await api_client.put(f"/api/kyc/records/{record_id}", json={"country": "Narnia"}, headers=account.headers)
    assert bad.status_code == 422
    resp = await api_client.put(f"/api/kyc/records/{record_id}", json={"country": "AT"}, headers=account.headers)
    assert resp.status_code == 200, resp.text
    assert resp.json()["missing_fields"] == []

    record = await eventually(lambda: _approved(record_status, record_id))
    assert record.jurisdiction == "AT"
    assert await worker_deps.contracts.kyc.get_tier(address) == 1
    cipher = RecordCipher(settings.kyc.encryption_keys, settings.kyc.active_key_id)
    assert cipher.decrypt(record.verification_data, record_id=str(record_id))["country"] == "AT"
    async with sessions() as session:
        audited = await session.scalar(
            AuditLog.__table__.select().where(AuditLog.action == "kyc.data_supplied",
                                              AuditLog.resource_id == str(record_id)).with_only_columns(AuditLog.id))
    assert audited is not None


async def test_put_on_someone_elses_or_a_decided_record(api_client, kyc_user, make_user, approve_kyc, sessions, settings) -> None:
    owner, _ = await kyc_user()
    stranger, _ = await kyc_user()
    record_id = await _legacy_record(sessions, settings, owner.id, tier=2)
    assert (await api_client.put(f"/api/kyc/records/{record_id}", json={"country": "CH"},
                                 headers=stranger.headers)).status_code == 404
    async with sessions() as session, session.begin():
        (await session.get(KycRecord, record_id)).status = KycStatus.REJECTED.value
    resp = await api_client.put(f"/api/kyc/records/{record_id}", json={"country": "CH"}, headers=owner.headers)
    assert resp.status_code == 409 and resp.json()["code"] == "kyc_record_not_pending"


# ---- a run parked by the registry's refusal (the pre-issue-14 path) resumes on data_supplied ----

class _Stubs:
    """KYC activities on the time-skipping server: the registry refuses once (empty jurisdiction)."""

    def __init__(self) -> None:
        self.registrations = 0
        self.approved = False

    @activity.defn(name=t.SCREEN)
    async def screen(self, ref: t.KycRecordRef) -> t.ScreenResult:
        return t.ScreenResult(hits=[])

    @activity.defn(name=t.REGISTER_ON_CHAIN)
    async def register(self, inp: t.RegisterOnChainInput) -> str:
        self.registrations += 1
        if self.registrations == 1:
            raise ApplicationError("kyc_registry: InvalidInput (#4) during simulation", type="ContractError",
                                   non_retryable=True)
        return "ab" * 32

    @activity.defn(name=t.APPROVE)
    async def approve(self, inp: t.ApproveInput) -> None:
        self.approved = True

    @activity.defn(name=t.NOTIFY_WAITING)
    async def notify(self, inp: KycChanged) -> t.NotifyResult:
        return t.NotifyResult(0, 0)

    @activity.defn(name=t.EXPIRE)
    async def expire(self, ref: t.KycRecordRef) -> t.ExpireResult:
        return t.ExpireResult(expired=True, revoke_on_chain=False)


async def test_a_run_parked_on_the_registrys_refusal_resumes_when_the_user_supplies_data(time_skipping_env) -> None:
    client, stubs = time_skipping_env.client, _Stubs()
    activities = [stubs.screen, stubs.register, stubs.approve, stubs.notify, stubs.expire]
    async with Worker(client, task_queue="kyc-door", workflows=[KycApprovalWorkflow], activities=activities):
        handle = await client.start_workflow(
            KycApprovalWorkflow.run, KycWorkflowInput(str(uuid.uuid4()), str(uuid.uuid4()), 1, validity_days=1),
            id=f"kyc-door-{uuid.uuid4()}", task_queue="kyc-door",
        )

        async def parked():
            return (await handle.query(KycApprovalWorkflow.get_state)).stage == "needs_attention"

        await eventually(parked)
        await handle.signal(KycApprovalWorkflow.retry, OperatorAction(reason="not parked for the user"))  # operators still can
        await eventually(lambda: _registered(stubs))
        assert stubs.registrations == 2

        stubs.registrations = 0  # a second run: the user's data_supplied signal retries it
        handle = await client.start_workflow(
            KycApprovalWorkflow.run, KycWorkflowInput(str(uuid.uuid4()), str(uuid.uuid4()), 1, validity_days=1),
            id=f"kyc-door-{uuid.uuid4()}", task_queue="kyc-door",
        )
        await eventually(parked)
        await handle.signal(t.DATA_SUPPLIED_SIGNAL, t.DataSupplied(fields=["verification_data.country"]))
        result = await handle.result()
    assert result.status == "expired" and stubs.registrations == 2


async def _registered(stubs: _Stubs) -> bool:
    return stubs.registrations >= 2
