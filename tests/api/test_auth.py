"""/api/auth: register, login, logout, me; token attacks; rate limits; client IP for audit rows."""

from __future__ import annotations

import asyncio
import time
import uuid

import httpx
import jwt
import pytest
from sqlalchemy import select, update
from stellar_sdk import Keypair

from api.auth.services import AuthServices
from config.settings import Settings
from db.models import AuditLog, User
from tests.fixtures.identity import MakeClient, MakeUser, strong_password, unique_email, unique_ip


async def audit_rows(sessions, **where) -> list[AuditLog]:
    async with sessions() as session:
        stmt = select(AuditLog)
        for key, value in where.items():
            stmt = stmt.where(getattr(AuditLog, key) == value)
        return list((await session.execute(stmt)).scalars())


class TestRegister:
    async def test_valid(self, make_client: MakeClient, sessions) -> None:
        client = await make_client()
        email, stellar = unique_email(), Keypair.random().public_key
        resp = await client.post(
            "/api/auth/register",
            json={"email": email.upper(), "password": strong_password(), "stellar_address": stellar},
        )
        assert resp.status_code == 201
        body = resp.json()
        assert set(body) == {"token", "user"}
        assert body["user"]["email"] == email and body["user"]["role"] == "user"
        assert body["user"]["stellar_address"] == stellar
        assert "password_hash" not in body["user"] and "tokens_valid_after" not in body["user"]
        me = await client.get("/api/auth/me", headers={"Authorization": f"Bearer {body['token']}"})
        assert me.status_code == 200 and me.json()["id"] == body["user"]["id"]

    async def test_duplicate_email_in_any_case_is_409(self, make_client: MakeClient) -> None:
        client, email = await make_client(), unique_email()
        assert (await client.post("/api/auth/register", json={"email": email, "password": strong_password()})).status_code == 201
        resp = await client.post("/api/auth/register", json={"email": email.upper(), "password": strong_password()})
        assert resp.status_code == 409
        assert resp.headers["content-type"] == "application/problem+json"
        assert resp.json()["code"] == "email_taken"

    @pytest.mark.parametrize("password", ["short1!", "password123", "x" * 129, "iloveyou"])
    async def test_weak_password_is_422_naming_password_without_echoing_it(self, make_client: MakeClient, password: str) -> None:
        client = await make_client()
        resp = await client.post("/api/auth/register", json={"email": unique_email(), "password": password})
        assert resp.status_code == 422
        assert [e["field"] for e in resp.json()["errors"]] == ["password"]
        assert password not in resp.text

    async def test_password_equal_to_the_email_is_422(self, make_client: MakeClient) -> None:
        client, email = await make_client(), unique_email()
        resp = await client.post("/api/auth/register", json={"email": email, "password": email})
        assert resp.status_code == 422 and [e["field"] for e in resp.json()["errors"]] == ["password"]

    @pytest.mark.parametrize("address", ["GABC", "not-an-address", "bad-checksum"])
    async def test_bad_stellar_address_is_422_naming_it(self, make_client: MakeClient, address: str) -> None:
        if address == "bad-checksum":
            key = Keypair.random().public_key
            address = key[:-1] + ("A" if key[-1] != "A" else "B")
        client = await make_client()
        resp = await client.post(
            "/api/auth/register", json={"email": unique_email(), "password": strong_password(), "stellar_address": address}
        )
        assert resp.status_code == 422
        assert [e["field"] for e in resp.json()["errors"]] == ["stellar_address"]

    async def test_invalid_email_is_422(self, make_client: MakeClient) -> None:
        client = await make_client()
        resp = await client.post("/api/auth/register", json={"email": "nobody", "password": strong_password()})
        assert resp.status_code == 422 and [e["field"] for e in resp.json()["errors"]] == ["email"]

    async def test_a_role_cannot_be_chosen(self, make_client: MakeClient) -> None:
        client = await make_client()
        resp = await client.post(
            "/api/auth/register", json={"email": unique_email(), "password": strong_password(), "role": "admin"}
        )
        assert resp.status_code == 422 and [e["field"] for e in resp.json()["errors"]] == ["role"]


class TestLogin:
    async def test_valid(self, make_client: MakeClient, make_user: MakeUser, settings: Settings) -> None:
        account = await make_user()
        client = await make_client()
        resp = await client.post("/api/auth/login", json={"email": account.email.upper(), "password": account.password})
        assert resp.status_code == 200
        body = resp.json()
        assert set(body) == {"token", "token_type", "expires_in", "user"}
        assert body["token_type"] == "bearer" and body["expires_in"] == settings.auth.token_lifetime_seconds
        assert body["user"]["id"] == str(account.id)
        assert (await client.get("/api/auth/me", headers={"Authorization": f"Bearer {body['token']}"})).status_code == 200

    async def test_unknown_email_and_wrong_password_give_identical_bodies(
        self, make_client: MakeClient, make_user: MakeUser
    ) -> None:
        account = await make_user()
        client = await make_client()
        request_id = {"X-Request-ID": "same-id"}
        unknown = await client.post("/api/auth/login", json={"email": unique_email(), "password": account.password}, headers=request_id)
        wrong = await client.post("/api/auth/login", json={"email": account.email, "password": "wrong " + account.password}, headers=request_id)
        malformed = await client.post("/api/auth/login", json={"email": "not an email", "password": "x"}, headers=request_id)
        assert unknown.status_code == wrong.status_code == malformed.status_code == 401
        assert unknown.content == wrong.content == malformed.content
        assert unknown.json()["code"] == "invalid_credentials"

    async def test_deactivated_account_cannot_log_in_and_looks_like_a_wrong_password(
        self, make_client: MakeClient, make_user: MakeUser
    ) -> None:
        account = await make_user(is_active=False)
        client = await make_client()
        inactive = await client.post("/api/auth/login", json={"email": account.email, "password": account.password}, headers={"X-Request-ID": "r"})
        wrong = await client.post("/api/auth/login", json={"email": account.email, "password": "nope nope nope"}, headers={"X-Request-ID": "r"})
        assert inactive.status_code == 401 and inactive.content == wrong.content

    async def test_hash_is_upgraded_when_parameters_change(
        self, make_client: MakeClient, make_user: MakeUser, settings: Settings, sessions
    ) -> None:
        account = await make_user()
        stronger = settings.model_copy(update={"auth": settings.auth.model_copy(update={"argon2_time_cost": 2})})
        client = await make_client(app_settings=stronger)
        resp = await client.post("/api/auth/login", json={"email": account.email, "password": account.password})
        assert resp.status_code == 200
        async with sessions() as session:
            stored = (await session.execute(select(User.password_hash).where(User.id == account.id))).scalar_one()
        assert ",t=2," in stored
        assert AuthServices.from_settings(stronger).passwords.verify(stored, account.password)


class TestLogout:
    async def test_anonymous(self, api_client: httpx.AsyncClient) -> None:
        resp = await api_client.post("/api/auth/logout")
        assert resp.status_code == 401 and resp.headers["www-authenticate"].startswith("Bearer")

    async def test_revokes_the_token_for_every_replica(self, make_client: MakeClient, make_user: MakeUser, settings: Settings) -> None:
        account = await make_user()
        client = await make_client()
        assert (await client.post("/api/auth/logout", headers=account.headers)).status_code == 204
        # A second app instance (another replica) sees the revocation: it lives in Postgres.
        replica = await make_client(app_settings=settings.model_copy())
        for c in (client, replica):
            resp = await c.get("/api/auth/me", headers=account.headers)
            assert resp.status_code == 401 and resp.json()["code"] == "invalid_token"


class TestMe:
    async def test_anonymous(self, api_client: httpx.AsyncClient) -> None:
        resp = await api_client.get("/api/auth/me")
        assert resp.status_code == 401
        assert resp.headers["content-type"] == "application/problem+json"
        assert resp.json()["code"] == "unauthenticated"


def _forge(settings: Settings, *, key: str | None = None, algorithm: str = "HS256", **claims) -> str:
    now = int(time.time())
    payload = {"role": "user", "iat": now, "exp": now + 600, "jti": uuid.uuid4().hex,
               "iss": settings.auth.jwt_issuer, "aud": settings.auth.jwt_audience, **claims}
    return jwt.encode(payload, key if key is not None else settings.auth.jwt_secret.get_secret_value(), algorithm=algorithm)


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
@pytest.mark.parametrize(
    "attack",
    ["alg_none", "other_algorithm", "wrong_key", "expired", "wrong_aud", "wrong_iss", "unknown_user",
     "role_claim_raised", "no_scheme", "basic_scheme", "two_tokens", "empty_bearer", "garbage"],
)
async def test_token_attacks_answer_401(
    api_client: httpx.AsyncClient, make_user: MakeUser, settings: Settings, attack: str
) -> None:
    account = await make_user()
    sub, now = str(account.id), int(time.time())
    header = {
        "alg_none": lambda: "Bearer " + _forge(settings, key="", algorithm="none", sub=sub),
        "other_algorithm": lambda: "Bearer " + _forge(settings, algorithm="HS512", sub=sub),
        "wrong_key": lambda: "Bearer " + _forge(settings, key="x" * 48, sub=sub),
        "expired": lambda: "Bearer " + _forge(settings, sub=sub, iat=now - 7200, exp=now - 3600),
        "wrong_aud": lambda: "Bearer " + _forge(settings, sub=sub, aud="another-api"),
        "wrong_iss": lambda: "Bearer " + _forge(settings, sub=sub, iss="another-issuer"),
        "unknown_user": lambda: "Bearer " + _forge(settings, sub=str(uuid.uuid4())),
        "role_claim_raised": lambda: "Bearer " + _forge(settings, sub=sub, role="admin"),  # stale or forged role
        "no_scheme": lambda: account.token,
        "basic_scheme": lambda: "Basic " + account.token,
        "two_tokens": lambda: f"Bearer {account.token} {account.token}",
        "empty_bearer": lambda: "Bearer ",
        "garbage": lambda: "Bearer abc.def.ghi",
    }[attack]()
    resp = await api_client.get("/api/auth/me", headers={"Authorization": header})
    assert resp.status_code == 401
    assert resp.headers["content-type"] == "application/problem+json"
    assert resp.json()["code"] == "invalid_token"


async def test_token_of_a_user_deactivated_after_issue_is_401(api_client: httpx.AsyncClient, make_user: MakeUser, sessions) -> None:
    account = await make_user()
    assert (await api_client.get("/api/auth/me", headers=account.headers)).status_code == 200
    async with sessions() as session, session.begin():
        await session.execute(update(User).where(User.id == account.id).values(is_active=False))
    assert (await api_client.get("/api/auth/me", headers=account.headers)).status_code == 401


class TestRateLimits:
    """Issue 14: limits that stop attackers, not offices (defaults in config/settings.py)."""

    async def test_twenty_successful_logins_from_one_ip_in_a_minute_all_succeed(
        self, make_client: MakeClient, make_user: MakeUser
    ) -> None:
        client = await make_client(unique_ip())
        accounts = [await make_user() for _ in range(4)]
        for i in range(20):
            account = accounts[i % 4]
            resp = await client.post("/api/auth/login", json={"email": account.email, "password": account.password})
            assert resp.status_code == 200, (i, resp.text)

    async def test_six_wrong_passwords_lock_the_account_with_retry_after(
        self, make_client: MakeClient, make_user: MakeUser, settings: Settings
    ) -> None:
        account = await make_user()
        assert settings.auth.login_failures_per_account == 5
        for _ in range(5):  # from many IPs: the account's count does not care
            client = await make_client(unique_ip())
            resp = await client.post("/api/auth/login", json={"email": account.email, "password": "bad guess 1"})
            assert resp.status_code == 401
        client = await make_client(unique_ip())
        sixth = await client.post("/api/auth/login", json={"email": account.email, "password": "bad guess 6"})
        assert sixth.status_code == 429
        assert sixth.json()["code"] == "account_locked"
        assert 1 <= int(sixth.headers["retry-after"]) <= settings.auth.lockout_base_seconds
        # locked: even the right password waits, without being checked
        right = await client.post("/api/auth/login", json={"email": account.email, "password": account.password})
        assert right.status_code == 429 and right.json()["code"] == "account_locked"
        # other accounts are not affected
        other = await make_user()
        resp = await client.post("/api/auth/login", json={"email": other.email, "password": other.password})
        assert resp.status_code == 200

    async def test_a_success_resets_the_accounts_count(self, make_client: MakeClient, make_user: MakeUser) -> None:
        account = await make_user()
        client = await make_client(unique_ip())
        for _ in range(3):
            for _ in range(4):
                assert (await client.post("/api/auth/login", json={"email": account.email, "password": "nope nope"})).status_code == 401
            ok = await client.post("/api/auth/login", json={"email": account.email, "password": account.password})
            assert ok.status_code == 200

    async def test_an_unknown_email_is_locked_like_a_known_one(self, make_client: MakeClient) -> None:
        email = unique_email()
        codes = []
        for _ in range(6):
            client = await make_client(unique_ip())
            codes.append((await client.post("/api/auth/login", json={"email": email, "password": "x y z w"})).status_code)
        assert codes == [401] * 5 + [429]

    async def test_wrong_passwords_over_many_accounts_from_one_ip_are_limited_per_ip(
        self, make_client: MakeClient, settings: Settings
    ) -> None:
        limit = settings.auth.login_failures_per_ip
        client = await make_client(unique_ip())
        for _ in range(limit):
            resp = await client.post("/api/auth/login", json={"email": unique_email(), "password": "spray pw 1"})
            assert resp.status_code == 401
        resp = await client.post("/api/auth/login", json={"email": unique_email(), "password": "spray pw 1"})
        assert resp.status_code == 429
        assert resp.headers["content-type"] == "application/problem+json"
        assert resp.json()["code"] == "rate_limited"
        assert 1 <= int(resp.headers["retry-after"]) <= settings.auth.login_failure_window_seconds
        # another IP is not affected
        other = await make_client(unique_ip())
        assert (await other.post("/api/auth/login", json={"email": unique_email(), "password": "x"})).status_code == 401

    async def test_concurrent_wrong_passwords_cannot_slip_past_the_account_lock(
        self, make_client: MakeClient, make_user: MakeUser
    ) -> None:
        account = await make_user()
        clients = [await make_client(unique_ip()) for _ in range(12)]
        responses = await asyncio.gather(*(
            c.post("/api/auth/login", json={"email": account.email, "password": f"guess {i}"}) for i, c in enumerate(clients)
        ))
        assert sum(r.status_code == 401 for r in responses) <= 5  # at most 5 passwords were really checked

    async def test_registrations_have_their_own_per_ip_limit(
        self, make_client: MakeClient, make_user: MakeUser, settings: Settings
    ) -> None:
        limit = settings.auth.registrations_per_ip
        client = await make_client(unique_ip())
        for _ in range(limit):
            resp = await client.post("/api/auth/register", json={"email": unique_email(), "password": strong_password()})
            assert resp.status_code == 201, resp.text
        resp = await client.post("/api/auth/register", json={"email": unique_email(), "password": strong_password()})
        assert resp.status_code == 429 and resp.json()["code"] == "rate_limited"
        assert int(resp.headers["retry-after"]) >= 1
        # signing in from the same IP still works
        account = await make_user()
        assert (await client.post("/api/auth/login", json={"email": account.email, "password": account.password})).status_code == 200

    async def test_forwarded_for_counts_only_behind_a_trusted_proxy(
        self, make_client: MakeClient, settings: Settings, sessions
    ) -> None:
        proxy, client_ip, spoofed = unique_ip(), unique_ip(), unique_ip()
        behind_proxy = settings.model_copy(
            update={"server": settings.server.model_copy(update={"trusted_proxies": [proxy]})}
        )
        via_proxy = await make_client(proxy, app_settings=behind_proxy)
        direct = await make_client(unique_ip(), app_settings=behind_proxy)
        email_a, email_b = unique_email(), unique_email()
        await via_proxy.post("/api/auth/register", json={"email": email_a, "password": strong_password()},
                             headers={"X-Forwarded-For": f"{spoofed}, {client_ip}"})
        await direct.post("/api/auth/register", json={"email": email_b, "password": strong_password()},
                          headers={"X-Forwarded-For": spoofed})
        [row_a] = [r for r in await audit_rows(sessions, action="auth.register") if r.new_values["email"] == email_a]
        [row_b] = [r for r in await audit_rows(sessions, action="auth.register") if r.new_values["email"] == email_b]
        assert str(row_a.ip_address) == client_ip
        assert str(row_b.ip_address) != spoofed
