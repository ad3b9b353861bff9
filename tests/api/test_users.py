"""/api/users/profile: the caller's own profile only."""

from __future__ import annotations

import httpx
from stellar_sdk import Keypair

from tests.fixtures.identity import MakeClient, MakeUser


class TestGetProfile:
    async def test_anonymous(self, api_client: httpx.AsyncClient) -> None:
        assert (await api_client.get("/api/users/profile")).status_code == 401

    async def test_valid(self, api_client: httpx.AsyncClient, make_user: MakeUser) -> None:
        account = await make_user()
        resp = await api_client.get("/api/users/profile", headers=account.headers)
        assert resp.status_code == 200 and resp.json()["email"] == account.email


class TestUpdateProfile:
    async def test_anonymous(self, api_client: httpx.AsyncClient) -> None:
        assert (await api_client.put("/api/users/profile", json={"first_name": "A"})).status_code == 401

    async def test_valid_partial_update_and_clear(self, api_client: httpx.AsyncClient, make_user: MakeUser) -> None:
        account = await make_user()
        stellar = Keypair.random().public_key
        resp = await api_client.put(
            "/api/users/profile", headers=account.headers,
            json={"first_name": " Ada ", "last_name": "Lovelace", "stellar_address": stellar},
        )
        assert resp.status_code == 200
        body = resp.json()
        assert (body["first_name"], body["last_name"], body["stellar_address"]) == ("Ada", "Lovelace", stellar)
        resp = await api_client.put("/api/users/profile", headers=account.headers, json={"last_name": None})
        assert resp.json()["first_name"] == "Ada" and resp.json()["last_name"] is None

    async def test_bad_stellar_address_is_422(self, api_client: httpx.AsyncClient, make_user: MakeUser) -> None:
        account = await make_user()
        resp = await api_client.put("/api/users/profile", headers=account.headers, json={"stellar_address": "GNOPE"})
        assert resp.status_code == 422 and [e["field"] for e in resp.json()["errors"]] == ["stellar_address"]

    async def test_email_role_and_activity_cannot_be_set(self, api_client: httpx.AsyncClient, make_user: MakeUser) -> None:
        account = await make_user()
        for field, value in (("role", "admin"), ("is_active", True), ("email", "x@example.com"), ("id", "1")):
            resp = await api_client.put("/api/users/profile", headers=account.headers, json={field: value})
            assert resp.status_code == 422, field


async def test_user_a_cannot_read_or_change_user_b(make_client: MakeClient, make_user: MakeUser) -> None:
    """No endpoint names another user except the admin ones, which answer 403 to a plain user."""
    a, b = await make_user(), await make_user()
    client = await make_client()
    own = await client.put("/api/users/profile", headers=a.headers, json={"first_name": "Alice"})
    assert own.json()["id"] == str(a.id)
    b_view = await client.get("/api/users/profile", headers=b.headers)
    assert b_view.json()["first_name"] is None and b_view.json()["id"] == str(b.id)
    attempts = [
        lambda: client.get("/api/admin/users", headers=a.headers),
        lambda: client.put(f"/api/admin/users/{b.id}/role", headers=a.headers, json={"role": "admin"}),
        lambda: client.post(f"/api/admin/users/{b.id}/deactivate", headers=a.headers),
        lambda: client.get("/api/admin/audit-logs", headers=a.headers, params={"user_id": str(b.id)}),
    ]
    for attempt in attempts:
        resp = await attempt()
        assert resp.status_code == 403 and b.email not in resp.text and "items" not in resp.json()
    # A query string naming B changes nothing on the profile routes.
    resp = await client.get("/api/users/profile", headers=a.headers, params={"user_id": str(b.id)})
    assert resp.json()["id"] == str(a.id)
    assert (await client.get("/api/auth/me", headers=b.headers)).status_code == 200
