"""``custody users create-admin``: password never an argument; the admin can log in at once."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from typer.testing import CliRunner

from cli.main import app
from tests.fixtures.identity import MakeClient, strong_password, unique_email


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, database_url: str) -> None:
    monkeypatch.setenv("APP_ENV", "test")
    monkeypatch.setenv("CUSTODY_DATABASE__URL", database_url)


async def _invoke(*args: str, env: dict[str, str] | None = None, stdin: str | None = None):
    # In a thread: the command runs its own event loop (asyncio.run).
    return await asyncio.to_thread(CliRunner().invoke, app, list(args), env=env, input=stdin)


async def test_create_admin_from_the_environment_then_log_in(cli_env: None, make_client: MakeClient) -> None:
    email, password = unique_email("admin"), strong_password()
    result = await _invoke("users", "create-admin", "--email", email.upper(), env={"CUSTODY_ADMIN_PASSWORD": password})
    assert result.exit_code == 0, result.output
    assert password not in result.output
    client: httpx.AsyncClient = await make_client()
    login = await client.post("/api/auth/login", json={"email": email, "password": password})
    assert login.status_code == 200 and login.json()["user"]["role"] == "admin"
    headers = {"Authorization": f"Bearer {login.json()['token']}"}
    logs = await client.get("/api/admin/audit-logs", headers=headers, params={"action": "user.admin_created",
                                                                            "resource_id": login.json()["user"]["id"]})
    [row] = logs.json()["items"]
    assert row["user_agent"] == "custody-cli" and password not in logs.text


async def test_create_admin_from_a_prompt(cli_env: None) -> None:
    password = strong_password()
    result = await _invoke("users", "create-admin", "--email", unique_email("admin"), stdin=f"{password}\n{password}\n",
                           env={"CUSTODY_ADMIN_PASSWORD": ""})
    assert result.exit_code == 0, result.output
    assert password not in result.output


async def test_weak_password_and_duplicate_email_are_refused(cli_env: None) -> None:
    email = unique_email("admin")
    weak = await _invoke("users", "create-admin", "--email", email, env={"CUSTODY_ADMIN_PASSWORD": "password1"})
    assert weak.exit_code == 1 and "password1" not in weak.output
    ok = await _invoke("users", "create-admin", "--email", email, env={"CUSTODY_ADMIN_PASSWORD": strong_password()})
    assert ok.exit_code == 0
    again = await _invoke("users", "create-admin", "--email", email, env={"CUSTODY_ADMIN_PASSWORD": strong_password()})
    assert again.exit_code == 1


def test_the_password_is_not_an_option() -> None:
    result = CliRunner().invoke(app, ["users", "create-admin", "--help"])
    assert result.exit_code == 0 and "--password" not in result.output
