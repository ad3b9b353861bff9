"""Expiry on the time-skipping test server: a year passes in milliseconds, the record expires and
the customer is revoked on the real ``kyc_registry`` (sandbox)."""

from __future__ import annotations

import os
import uuid

from sqlalchemy import update
from stellar_sdk import Keypair
from temporalio.worker import Worker

from activities.kyc_notify import KycNotifications
from contracts.kyc import KycWorkflowInput
from db.encryption import RecordCipher
from db.models import KycRecord, User
from tests.workflow.record_history import save_history
from workers.registry import kyc_activities
from workflows.kyc import KycApprovalWorkflow


async def test_expiry_timer_marks_the_record_expired_and_revokes_on_chain(
    time_skipping_env, worker_deps, make_user, sessions, settings
) -> None:
    account = await make_user()
    address = Keypair.random().public_key
    record_id = uuid.uuid4()
    cipher = RecordCipher(settings.kyc.encryption_keys, settings.kyc.active_key_id)
    async with sessions() as session, session.begin():
        await session.execute(update(User).where(User.id == account.id).values(stellar_address=address))
        session.add(
            KycRecord(
                id=record_id, user_id=account.id, tier=1, status="pending", jurisdiction="FR",
                verification_data=cipher.encrypt({"full_name": "Expiring Example"}, record_id=str(record_id)),
            )
        )
    client = time_skipping_env.client
    activities = [*kyc_activities(worker_deps).all(), *KycNotifications(sessions=worker_deps.sessions).all()]
    async with Worker(client, task_queue="kyc-expiry", workflows=[KycApprovalWorkflow], activities=activities):
        # No search attributes at start: the time-skipping server cannot register custom ones.
        workflow_id = f"kyc-{account.id}-{record_id}"
        result = await client.execute_workflow(
            KycApprovalWorkflow.run,
            KycWorkflowInput(record_id=str(record_id), user_id=str(account.id), tier=1),
            id=workflow_id,
            task_queue="kyc-expiry",
        )
        if os.environ.get("RECORD_HISTORIES"):  # refresh the golden history for test_replay
            await save_history(client, workflow_id, "kyc_approval")
    assert result.status == "expired" and result.stage == "expired"
    async with sessions() as session:
        record = await session.get(KycRecord, record_id)
    assert record is not None and record.status == "expired"
    assert await worker_deps.contracts.kyc.get_tier(address) == 0  # revoked, not merely expired on chain
