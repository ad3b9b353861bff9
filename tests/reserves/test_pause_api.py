"""``/api/admin/system/pause`` and ``/resume``: roles, audit, engine flag and router flag."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from db.models import AuditLog
from db.queries.system_state import get_pause
from domain.pause import PauseState, SystemPaused
from domain.roles import Role
from tests.reserves.conftest import maybe_record


class TestPause:
    async def test_anonymous(self, api_client) -> None:
        assert (await api_client.post("/api/admin/system/pause", json={"reason": "test"})).status_code == 401

    async def test_wrong_role(self, api_client, make_user) -> None:
        user = await make_user(Role.OPERATOR)
        resp = await api_client.post("/api/admin/system/pause", json={"reason": "test"}, headers=user.headers)
        assert resp.status_code == 403

    async def test_compliance_pauses_and_only_admin_resumes(
        self, api_client, make_user, sessions, temporal_client, custody_queue_worker, worker_deps
    ) -> None:
        officer, admin = await make_user(Role.COMPLIANCE_OFFICER), await make_user(Role.ADMIN)
        try:
            resp = await api_client.post("/api/admin/system/pause", json={"reason": "incident 42"}, headers=officer.headers)
            assert resp.status_code == 200, resp.text
            assert resp.json()["minting"] and resp.json()["withdrawals"]
            await temporal_client.get_workflow_handle(resp.json()["chain_workflow_id"]).result()
            await maybe_record(temporal_client, resp.json()["chain_workflow_id"], "chain_pause")
            assert await worker_deps.contracts.router.is_paused()
            async with sessions() as session:
                assert (await get_pause(session)) == PauseState(True, True, "incident 42")
                audit = (await session.execute(
                    select(AuditLog).where(AuditLog.user_id == officer.id, AuditLog.action == "system.pause")
                )).scalar_one()
            assert audit.new_values["reason"] == "incident 42"
            assert (await api_client.post("/api/admin/system/resume", headers=officer.headers)).status_code == 403
        finally:
            resp = await api_client.post("/api/admin/system/resume", headers=admin.headers)
            assert resp.status_code == 200, resp.text
            await temporal_client.get_workflow_handle(resp.json()["chain_workflow_id"]).result()
        assert not await worker_deps.contracts.router.is_paused()
        async with sessions() as session:
            assert (await get_pause(session)) == PauseState()


def test_system_paused_maps_to_503() -> None:
    from api.errors import DOMAIN_STATUS

    with pytest.raises(SystemPaused) as paused:
        PauseState(minting=True, reason="x").check_minting()
    assert DOMAIN_STATUS[paused.value.code] == 503
