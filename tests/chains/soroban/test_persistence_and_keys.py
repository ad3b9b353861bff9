"""The sandbox resumes from its state dir; the operator key loads without leaking."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from stellar_sdk import Keypair, StrKey

from chains.soroban import OperatorKey, OperatorKeyError
from custody_sandbox.soroban import CONTRACT_ADDRESSES, CONTRACTS_FILE, OPERATOR_SECRET_FILE, SandboxState, create_app
from custody_sandbox.soroban.bootstrap import contract_address


def test_restart_resumes_chain_and_keeps_published_files(tmp_path: Path) -> None:
    app = create_app(tmp_path, ledger_interval_seconds=None)
    state: SandboxState = app.state.sandbox
    state.close_ledger()
    before = (state.chain.latest.sequence, dict(state.chain.accounts), len(state.chain.events))
    secret_file = tmp_path / OPERATOR_SECRET_FILE
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    secret_text = secret_file.read_text()
    published = json.loads((tmp_path / CONTRACTS_FILE).read_text())
    assert Keypair.from_secret(secret_file.read_text().strip()).public_key == published["operator"]

    again = create_app(tmp_path, ledger_interval_seconds=None)
    resumed: SandboxState = again.state.sandbox
    assert not resumed.fresh
    assert (resumed.chain.latest.sequence, dict(resumed.chain.accounts), len(resumed.chain.events)) == before
    assert secret_file.read_text() == secret_text  # a restart never regenerates the operator


def test_contract_addresses_are_stable_valid_strkeys() -> None:
    assert set(CONTRACT_ADDRESSES) == {"integration_router", "kyc_registry", "istsi_token", "reserve_manager"}
    for name, address in CONTRACT_ADDRESSES.items():
        assert StrKey.is_valid_contract(address) and address == contract_address(name)


def test_operator_key_from_env_and_file_never_shows_secret(tmp_path: Path, monkeypatch) -> None:
    kp = Keypair.random()
    monkeypatch.setenv("TEST_OPERATOR_SECRET", kp.secret)
    key = OperatorKey.load(env_var="TEST_OPERATOR_SECRET")
    assert key.public_key == kp.public_key
    assert kp.secret not in repr(key) and kp.secret not in str(key)
    path = tmp_path / "op.secret"
    path.write_text(kp.secret + "\n")
    assert OperatorKey.load(secret_file=path).public_key == kp.public_key
    monkeypatch.setenv("TEST_OPERATOR_SECRET", "S-not-a-seed")
    with pytest.raises(OperatorKeyError) as info:
        OperatorKey.load(env_var="TEST_OPERATOR_SECRET")
    assert "S-not-a-seed" not in str(info.value) and info.value.__cause__ is None
