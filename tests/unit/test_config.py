"""Configuration: sources, overrides, and start-up validation (one line per bad key, no values)."""

from __future__ import annotations

import base64
import json
import os

import pytest

from config.settings import ConfigError, load_settings

STRONG_SECRET = "k3" * 24  # 48 bytes, not published anywhere


@pytest.fixture
def production(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.setenv("JWT_SECRET", STRONG_SECRET)
    monkeypatch.setenv("SOROBAN_RPC_URL", "https://rpc.example.org")
    monkeypatch.setenv("ESPLORA_URL", "https://esplora.example.org/api")
    monkeypatch.setenv("CUSTODY_KYC__ENCRYPTION_KEYS", json.dumps({"prod-1": base64.b64encode(os.urandom(32)).decode()}))
    monkeypatch.setenv("CUSTODY_KYC__ACTIVE_KEY_ID", "prod-1")
    return monkeypatch


def problems(**overrides) -> list[str]:
    try:
        load_settings(**overrides)
    except ConfigError as exc:
        return exc.problems
    return []


def test_yaml_is_chosen_by_app_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APP_ENV", "development")
    assert load_settings().bitcoin.min_confirmations == 1
    monkeypatch.setenv("APP_ENV", "test")
    assert load_settings().auth.argon2_time_cost == 1


def test_prefixed_env_overrides_any_nested_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUSTODY_SERVER__PORT", "9123")
    monkeypatch.setenv("CUSTODY_SOROBAN__CONTRACTS__ISTSI_TOKEN", "CABC")
    s = load_settings()
    assert s.server.port == 9123
    assert s.soroban.contracts.istsi_token == "CABC"


def test_seed_env_names_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgres://u@db.example:5432/custody")
    monkeypatch.setenv("SOROBAN_NETWORK", "testnet")
    monkeypatch.setenv("SOROBAN_RPC_URL", "https://rpc.example.org")
    s = load_settings()
    assert s.database.url == "postgresql+psycopg://u@db.example:5432/custody"
    assert s.soroban.network == "testnet"
    assert s.soroban.passphrase() == "Test SDF Network ; September 2015"
    assert s.soroban.rpc_url == "https://rpc.example.org"


def test_production_accepts_a_sound_configuration(production: pytest.MonkeyPatch) -> None:
    assert problems() == []


@pytest.mark.parametrize(
    ("secret", "reason"),
    [
        ("development-secret-change-in-production", "published development secret"),
        ("test-secret-not-for-production-use-0123456789", "published development secret"),
        ("x" * 31, "shorter than 32 bytes"),
    ],
)
def test_production_refuses_weak_jwt_secrets(production: pytest.MonkeyPatch, secret: str, reason: str) -> None:
    production.setenv("JWT_SECRET", secret)
    found = problems()
    assert len(found) == 1 and found[0].startswith("config: auth.jwt_secret:") and reason in found[0]
    assert secret not in found[0]


def test_production_requires_a_jwt_secret(production: pytest.MonkeyPatch) -> None:
    production.delenv("JWT_SECRET")
    assert problems() == ["config: auth.jwt_secret: required in production (set JWT_SECRET)"]


def test_production_accepts_exactly_32_bytes(production: pytest.MonkeyPatch) -> None:
    production.setenv("JWT_SECRET", "y" * 32)
    assert problems() == []


@pytest.mark.parametrize(
    ("env", "value", "key"),
    [
        ("SOROBAN_RPC_URL", "http://127.0.0.1:8000", "soroban.rpc_url"),
        ("SOROBAN_RPC_URL", "http://localhost:8000", "soroban.rpc_url"),
        ("ESPLORA_URL", "http://127.0.0.1:3002", "bitcoin.esplora_url"),
        ("ESPLORA_URL", "http://[::1]:3002", "bitcoin.esplora_url"),
    ],
)
def test_production_refuses_sandbox_urls(production: pytest.MonkeyPatch, env: str, value: str, key: str) -> None:
    production.setenv(env, value)
    assert [p.split(":")[1].strip() for p in problems()] == [key]


def test_production_refuses_sandbox_networks(production: pytest.MonkeyPatch) -> None:
    production.setenv("SOROBAN_NETWORK", "standalone")
    production.setenv("BITCOIN_NETWORK", "regtest")
    keys = {p.split(":")[1].strip() for p in problems()}
    assert {"soroban.network", "bitcoin.network"} <= keys


def test_bitcoin_mainnet_with_stellar_testnet_is_refused(production: pytest.MonkeyPatch) -> None:
    production.setenv("SOROBAN_NETWORK", "testnet")
    assert problems() == [
        "config: soroban.network: bitcoin.network is mainnet but the Stellar network is a test network"
    ]


def test_stellar_mainnet_with_bitcoin_testnet_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APP_ENV", "development")
    monkeypatch.setenv("SOROBAN_NETWORK", "mainnet")
    monkeypatch.setenv("BITCOIN_NETWORK", "testnet")
    assert problems() == [
        "config: bitcoin.network: soroban.network is mainnet but the Bitcoin network is a test network"
    ]


def test_passphrase_must_match_network() -> None:
    found = problems(soroban={"network": "testnet", "network_passphrase": "Public Global Stellar Network ; September 2015"})
    assert found == ["config: soroban.network_passphrase: does not match soroban.network 'testnet'"]


def test_type_errors_name_the_key_and_never_echo_the_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUSTODY_SERVER__PORT", "not-a-port-s3cr3t")
    found = problems()
    assert len(found) == 1 and found[0].startswith("config: server.port:")
    assert "s3cr3t" not in found[0]


def test_cors_wildcard_with_credentials_is_refused() -> None:
    assert problems(cors={"allow_origins": ["*"], "allow_credentials": True}) == [
        "config: cors.allow_origins: '*' cannot be combined with cors.allow_credentials"
    ]


def test_secrets_are_hidden_in_repr(production: pytest.MonkeyPatch) -> None:
    s = load_settings()
    assert STRONG_SECRET not in repr(s) and STRONG_SECRET not in str(s.model_dump())


def test_database_url_redaction() -> None:
    s = load_settings(database={"url": "postgresql://app:hunter2@db.example/custody"})
    assert "hunter2" not in s.database.redacted_url()


def test_production_refuses_the_published_kyc_key(production: pytest.MonkeyPatch) -> None:
    published = "Ld5orypBD841TU6dQOuKH8SQO9yjEPzMWZHXefEB03g="  # config/development.yaml
    production.setenv("CUSTODY_KYC__ENCRYPTION_KEYS", json.dumps({"prod-1": published}))
    found = problems()
    assert found == ["config: kyc.encryption_keys.prod-1: is a published development key"]
    assert published not in found[0]


def test_kyc_key_must_be_32_bytes_and_the_active_id_must_exist(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUSTODY_KYC__ENCRYPTION_KEYS", json.dumps({"k1": base64.b64encode(b"short").decode()}))
    monkeypatch.setenv("CUSTODY_KYC__ACTIVE_KEY_ID", "k2")
    assert problems() == [
        "config: kyc.encryption_keys.k1: must be base64 of 32 bytes (AES-256)",
        "config: kyc.active_key_id: must name one of kyc.encryption_keys",
    ]


def test_check_config_refuses_a_garbage_custody_descriptor_with_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 17: ``CUSTODY_BITCOIN__CUSTODY_DESCRIPTOR=garbage`` no longer answers ``config ok``."""
    from typer.testing import CliRunner

    from cli.main import app

    monkeypatch.setenv("APP_ENV", "test")
    monkeypatch.setenv("CUSTODY_BITCOIN__CUSTODY_DESCRIPTOR", "garbage")
    result = CliRunner().invoke(app, ["check-config"])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "config: bitcoin.custody_descriptor: not a descriptor: expected wpkh(KEY/<0;1>/*) or "
        "wsh(sortedmulti(M,KEY1/<0;1>/*,...)) (BIP 380-389)"]


def test_a_multisig_custody_raises_the_withdrawal_minimum_it_needs() -> None:
    from tests.unit.test_multisig_wallet import descriptor

    lines = problems(bitcoin={"custody_descriptor": descriptor(), "signer": "external"})
    assert lines == ["config: withdrawals.minimum_sats: below the worst-case fee at the fee cap plus dust"]
    assert problems(bitcoin={"custody_descriptor": descriptor(), "signer": "external"},
                    withdrawals={"minimum_sats": 50_000}) == []
