"""``custody wallet``: the README's user-side Stellar steps run as written against a served stack
(a funded key from friendbot, then the SEP-41 approve a withdrawal needs)."""

from __future__ import annotations

import asyncio
import stat

from stellar_sdk import Keypair
from typer.testing import CliRunner

from cli.main import app


async def _invoke(*args: str, env: dict[str, str] | None = None):
    return await asyncio.to_thread(CliRunner().invoke, app, list(args), env=env)


async def test_new_key_funds_the_account_and_approve_router_sets_the_allowance(
    served_api, soroban_sandbox, worker_deps, tmp_path
) -> None:
    secret_file = tmp_path / "alice.secret"
    made = await _invoke("wallet", "new-key", "--secret-file", str(secret_file), "--fund",
                         "--api-url", served_api, "--rpc-url", soroban_sandbox.url)
    assert made.exit_code == 0, made.output
    public_key = made.output.strip().splitlines()[-1]
    assert public_key.startswith("G") and Keypair.from_secret(secret_file.read_text().strip()).public_key == public_key
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    assert secret_file.read_text().strip() not in made.output

    approved = await _invoke("wallet", "approve-router", "--amount", "50000", "--secret-file", str(secret_file),
                             "--api-url", served_api, "--rpc-url", soroban_sandbox.url)

    assert approved.exit_code == 0, approved.output
    assert "allowance for integration_router: 50000" in approved.output
    router = worker_deps.contracts.router.address
    assert await worker_deps.contracts.token.allowance(public_key, router) == 50_000


async def test_new_key_never_overwrites_a_key(tmp_path) -> None:
    secret_file = tmp_path / "kept.secret"
    secret_file.write_text("SKEEP\n")
    result = await _invoke("wallet", "new-key", "--secret-file", str(secret_file))
    assert result.exit_code == 1 and secret_file.read_text() == "SKEEP\n"
