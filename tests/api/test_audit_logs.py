"""Audit rows for every identity action, and /api/admin/audit-logs (admins, compliance officers)."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import select

from db.models import AuditLog, User
from domain.roles import Role
from tests.fixtures.identity import MakeClient, MakeUser, strong_password, unique_email, unique_ip


class TestListAuditLogs:
    async def test_anonymous(self, api_client: httpx.AsyncClient) -> None:
        assert (await api_client.get("/api/admin/audit-logs")).status_code == 401

    @pytest.mark.parametrize("role", [Role.USER, Role.OPERATOR])
    async def test_wrong_role_is_403(self, api_client: httpx.AsyncClient, make_user: MakeUser, role: Role) -> None:
        caller = await make_user(role)
        assert (await api_client.get("/api/admin/audit-logs", headers=caller.headers)).status_code == 403

    @pytest.mark.parametrize("role", [Role.ADMIN, Role.COMPLIANCE_OFFICER])
    async def test_allowed_roles_filter_and_page_newest_first(
        self, make_client: MakeClient, make_user: MakeUser, role: Role
    ) -> None:
        reader, subject = await make_user(role), await make_user()
        client = await make_client()
        for name in ("One", "Two", "Three"):
            await client.put("/api/users/profile", headers=subject.headers, json={"first_name": name})
        params = {"user_id": str(subject.id), "action": "user.profile_updated", "resource_type": "user", "limit": 2}
        first = await client.get("/api/admin/audit-logs", headers=reader.headers, params=params)
        assert first.status_code == 200
        page = first.json()
        assert [e["new_values"]["first_name"] for e in page["items"]] == ["Three", "Two"]
        second = (await client.get("/api/admin/audit-logs", headers=reader.headers, params=params | {"cursor": page["next_cursor"]})).json()
        assert [e["new_values"]["first_name"] for e in second["items"]] == ["One"] and second["next_cursor"] is None
        future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
        later = await client.get("/api/admin/audit-logs", headers=reader.headers, params=params | {"since": future})
        assert later.json()["items"] == []
        by_resource = await client.get(
            "/api/admin/audit-logs", headers=reader.headers, params={"resource_id": str(subject.id), "until": future}
        )
        assert len(by_resource.json()["items"]) == 3

    async def test_naive_time_is_422(self, api_client: httpx.AsyncClient, make_user: MakeUser) -> None:
        admin = await make_user(Role.ADMIN)
        resp = await api_client.get("/api/admin/audit-logs", headers=admin.headers, params={"since": "2024-01-01T00:00:00"})
        assert resp.status_code == 422


async def _rows(sessions, action: str, resource_id: str | None = None, email: str | None = None) -> list[AuditLog]:
    async with sessions() as session:
        rows = (await session.execute(select(AuditLog).where(AuditLog.action == action))).scalars().all()
    return [
        r for r in rows
        if (resource_id is None or r.resource_id == resource_id)
        and (email is None or (r.new_values or {}).get("email") == email)
    ]


async def test_each_audited_action_leaves_one_row_with_actor_ip_and_agent_and_no_secret(
    make_client: MakeClient, make_user: MakeUser, sessions, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    ip, agent = unique_ip(), f"audit-test/{uuid.uuid4().hex[:8]}"
    client = await make_client(ip)
    client.headers["User-Agent"] = agent
    admin = await make_user(Role.ADMIN)
    email, password = unique_email(), strong_password()

    registered = await client.post("/api/auth/register", json={"email": email, "password": password})
    user_id = registered.json()["user"]["id"]
    failed = await client.post("/api/auth/login", json={"email": email, "password": "wrong " + password})
    logged_in = await client.post("/api/auth/login", json={"email": email, "password": password})
    token = logged_in.json()["token"]
    headers = {"Authorization": f"Bearer {token}"}
    await client.put("/api/users/profile", headers=headers, json={"first_name": "Grace"})
    await client.post("/api/auth/logout", headers=headers)
    await client.put(f"/api/admin/users/{user_id}/role", headers=admin.headers, json={"role": "operator"})
    await client.post(f"/api/admin/users/{user_id}/deactivate", headers=admin.headers)
    await client.post("/api/auth/login", json={"email": unique_email(), "password": password})
    assert failed.status_code == 401

    async with sessions() as session:
        stored_hash = (await session.execute(select(User.password_hash).where(User.id == uuid.UUID(user_id)))).scalar_one()
    expected = {
        "auth.register": user_id,
        "auth.login": user_id,
        "user.profile_updated": user_id,
        "auth.logout": user_id,
        "user.role_changed": str(admin.id),
        "user.deactivated": str(admin.id),
    }
    secrets = [password, stored_hash, token, registered.json()["token"]]
    for action, actor in expected.items():
        rows = await _rows(sessions, action, resource_id=user_id)
        assert len(rows) == 1, action
        row = rows[0]
        assert (str(row.user_id), str(row.ip_address), row.user_agent) == (actor, ip, agent), action
        assert not any(s in repr(row.old_values) + repr(row.new_values) for s in secrets), action
    [wrong_password] = await _rows(sessions, "auth.login_failed", resource_id=user_id)
    assert (str(wrong_password.user_id), wrong_password.new_values["reason"]) == (user_id, "wrong_password")
    assert (str(wrong_password.ip_address), wrong_password.user_agent) == (ip, agent)
    listing = await client.get("/api/admin/audit-logs", headers=admin.headers, params={"resource_id": user_id})
    responses = [registered.text, failed.text, logged_in.text.replace(token, ""), listing.text]
    assert not any(s in text for s in (password, stored_hash) for text in responses)
    assert token not in listing.text
    log_text = "\n".join(r.getMessage() + repr(r.__dict__) for r in caplog.records)
    assert not any(s in log_text for s in secrets)
