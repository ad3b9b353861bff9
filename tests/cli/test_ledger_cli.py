"""``custody ledger cover-write-off``: refusals carry a stable code and change nothing."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from typer.testing import CliRunner

from cli.main import app


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, database_url: str) -> None:
    monkeypatch.setenv("APP_ENV", "test")
    monkeypatch.setenv("CUSTODY_DATABASE__URL", database_url)


async def _invoke(*args: str):
    return await asyncio.to_thread(CliRunner().invoke, app, list(args))


async def test_covering_an_unknown_operation_is_refused(cli_env: None) -> None:
    result = await _invoke("ledger", "cover-write-off", str(uuid.uuid4()), "--outpoint", f"{'ab' * 32}:0",
                           "--operator", "ops", "--reason", "top-up")
    assert result.exit_code == 2, result.output
    assert "operation_missing" in result.output


async def test_a_malformed_operation_id_is_refused(cli_env: None) -> None:
    result = await _invoke("ledger", "cover-write-off", "not-a-uuid", "--outpoint", "x:0", "--operator", "ops",
                           "--reason", "top-up")
    assert result.exit_code == 2, result.output
    assert "invalid_input" in result.output
