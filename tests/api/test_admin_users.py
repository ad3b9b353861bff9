"""/api/admin/users: list (cursor pages), change role, deactivate — admins only."""

from __future__ import annotations

import uuid

import httpx
import pytest

from domain.roles import Role
from tests.fixtures.identity import MakeClient, MakeUser

NON_ADMIN = [Role.USER, Role.OPERATOR, Role.COMPLIANCE_OFFICER]


def _routes(target: uuid.UUID):
    return [
        ("GET", "/api/admin/users", None),
        ("PUT", f"/api/admin/users/{target}/role", {"role": "operator"}),
        ("POST", f"/api/admin/users/{target}/deactivate", None),
    ]


@pytest.mark.parametrize("route", range(3))
async def test_anonymous(api_client: httpx.AsyncClient, route: int) -> None:
    method, path, body = _routes(uuid.uuid4())[route]
    assert (await api_client.request(method, path, json=body)).status_code == 401


@pytest.mark.parametrize("role", NON_ADMIN)
@pytest.mark.parametrize("route", range(3))
async def test_wrong_role_is_403(api_client: httpx.AsyncClient, make_user: MakeUser, role: Role, route: int) -> None:
    caller, target = await make_user(role), await make_user()
    method, path, body = _routes(target.id)[route]
    resp = await api_client.request(method, path, json=body, headers=caller.headers)
    assert resp.status_code == 403
    assert resp.headers["content-type"] == "application/problem+json" and resp.json()["code"] == "forbidden"
    assert (await api_client.get("/api/auth/me", headers=target.headers)).json()["role"] == "user"


class TestListUsers:
    async def test_admin_pages_newest_first_with_an_opaque_cursor(self, api_client: httpx.AsyncClient, make_user: MakeUser) -> None:
        admin = await make_user(Role.ADMIN)
        made = [await make_user(Role.OPERATOR) for _ in range(3)]
        seen: list[str] = []
        cursor = None
        for _ in range(50):
            params = {"limit": 2, "role": "operator"} | ({"cursor": cursor} if cursor else {})
            resp = await api_client.get("/api/admin/users", headers=admin.headers, params=params)
            assert resp.status_code == 200
            page = resp.json()
            assert len(page["items"]) <= 2 and all(u["role"] == "operator" for u in page["items"])
            seen += [u["id"] for u in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert len(seen) == len(set(seen))
        newest_three = [str(a.id) for a in reversed(made)]
        assert seen[:3] == newest_three

    async def test_bad_cursor_and_limit_are_422(self, api_client: httpx.AsyncClient, make_user: MakeUser) -> None:
        admin = await make_user(Role.ADMIN)
        bad_cursor = await api_client.get("/api/admin/users", headers=admin.headers, params={"cursor": "garbage!"})
        assert bad_cursor.status_code == 422 and bad_cursor.json()["code"] == "invalid_cursor"
        assert (await api_client.get("/api/admin/users", headers=admin.headers, params={"limit": 0})).status_code == 422
        assert (await api_client.get("/api/admin/users", headers=admin.headers, params={"limit": 101})).status_code == 422


class TestChangeRole:
    async def test_valid_and_the_old_token_dies_at_once(self, make_client: MakeClient, make_user: MakeUser) -> None:
        admin, target = await make_user(Role.ADMIN), await make_user()
        client = await make_client()
        resp = await client.put(f"/api/admin/users/{target.id}/role", headers=admin.headers, json={"role": "compliance_officer"})
        assert resp.status_code == 200 and resp.json()["role"] == "compliance_officer"
        assert (await client.get("/api/auth/me", headers=target.headers)).status_code == 401
        login = await client.post("/api/auth/login", json={"email": target.email, "password": target.password})
        assert login.status_code == 200
        fresh = {"Authorization": f"Bearer {login.json()['token']}"}
        assert (await client.get("/api/admin/audit-logs", headers=fresh)).status_code == 200

    async def test_unknown_role_is_422(self, api_client: httpx.AsyncClient, make_user: MakeUser) -> None:
        admin, target = await make_user(Role.ADMIN), await make_user()
        resp = await api_client.put(f"/api/admin/users/{target.id}/role", headers=admin.headers, json={"role": "root"})
        assert resp.status_code == 422

    async def test_not_found(self, api_client: httpx.AsyncClient, make_user: MakeUser) -> None:
        admin = await make_user(Role.ADMIN)
        resp = await api_client.put(f"/api/admin/users/{uuid.uuid4()}/role", headers=admin.headers, json={"role": "user"})
        assert resp.status_code == 404 and resp.json()["code"] == "user_not_found"

    async def test_own_role_is_409(self, api_client: httpx.AsyncClient, make_user: MakeUser) -> None:
        admin = await make_user(Role.ADMIN)
        resp = await api_client.put(f"/api/admin/users/{admin.id}/role", headers=admin.headers, json={"role": "user"})
        assert resp.status_code == 409 and resp.json()["code"] == "self_modification"


class TestDeactivate:
    async def test_valid_live_tokens_stop_and_login_is_refused(self, make_client: MakeClient, make_user: MakeUser) -> None:
        admin, target = await make_user(Role.ADMIN), await make_user(Role.OPERATOR)
        client = await make_client()
        assert (await client.get("/api/auth/me", headers=target.headers)).status_code == 200
        resp = await client.post(f"/api/admin/users/{target.id}/deactivate", headers=admin.headers)
        assert resp.status_code == 200 and resp.json()["is_active"] is False
        assert (await client.get("/api/auth/me", headers=target.headers)).status_code == 401
        login = await client.post("/api/auth/login", json={"email": target.email, "password": target.password})
        assert login.status_code == 401 and login.json()["code"] == "invalid_credentials"

    async def test_not_found_and_self(self, api_client: httpx.AsyncClient, make_user: MakeUser) -> None:
        admin = await make_user(Role.ADMIN)
        assert (await api_client.post(f"/api/admin/users/{uuid.uuid4()}/deactivate", headers=admin.headers)).status_code == 404
        assert (await api_client.post(f"/api/admin/users/{admin.id}/deactivate", headers=admin.headers)).status_code == 409
