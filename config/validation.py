"""Start-up checks that span keys or depend on the environment.

Each problem is one line ``config: <key>: <reason>``. Lines name keys, never values, so a secret
that fails a rule is not echoed into a log.
"""

from __future__ import annotations

import base64
import ipaddress
from pathlib import Path
from urllib.parse import urlsplit

import yaml

from config.settings import CONFIG_DIR, STELLAR_PASSPHRASES, Settings

#: Secrets that are published in this repository or in the seed's README, so never secret.
_PUBLISHED_JWT_SECRETS = {
    "development-secret-change-in-production",
    "your-super-secret-jwt-key-change-in-production",
    "your-secret",
}
MIN_JWT_SECRET_BYTES = 32
_LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "0.0.0.0", "host.docker.internal"}


def _published_yaml_values(section: str, key: str) -> set[str]:
    """Values of ``section.key`` in the committed development and test files (so not secret)."""
    found: set[str] = set()
    for name in ("development.yaml", "test.yaml"):
        path: Path = CONFIG_DIR / name
        if path.exists():
            value = ((yaml.safe_load(path.read_text()) or {}).get(section) or {}).get(key)
            if isinstance(value, dict):
                found.update(str(v) for v in value.values())
            elif value:
                found.add(str(value))
    return found


def _published_secrets() -> set[str]:
    return _PUBLISHED_JWT_SECRETS | _published_yaml_values("auth", "jwt_secret")


def _kyc_key_problems(s: Settings) -> list[str]:
    problems = []
    keys = s.kyc.encryption_keys
    for key_id, key in keys.items():
        try:
            if len(base64.b64decode(key.get_secret_value(), validate=True)) != 32:
                raise ValueError
        except ValueError:
            problems.append(f"config: kyc.encryption_keys.{key_id}: must be base64 of 32 bytes (AES-256)")
    if s.kyc.active_key_id not in keys:
        problems.append("config: kyc.active_key_id: must name one of kyc.encryption_keys")
    if s.app_env == "production":
        published = _published_yaml_values("kyc", "encryption_keys")
        for key_id, key in keys.items():
            if key.get_secret_value() in published:
                problems.append(f"config: kyc.encryption_keys.{key_id}: is a published development key")
    return problems


def is_local_url(url: str) -> bool:
    """True when ``url`` points at this host (where only the sandboxes listen)."""
    host = (urlsplit(url).hostname or "").lower()
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _network_problems(s: Settings) -> list[str]:
    problems = []
    expected = STELLAR_PASSPHRASES[s.soroban.network]
    if s.soroban.network_passphrase and s.soroban.network_passphrase != expected:
        problems.append(
            f"config: soroban.network_passphrase: does not match soroban.network {s.soroban.network!r}"
        )
    btc_main = s.bitcoin.network == "mainnet"
    xlm_main = s.soroban.network == "mainnet"
    if btc_main and not xlm_main:
        problems.append(
            "config: soroban.network: bitcoin.network is mainnet but the Stellar network is a test network"
        )
    if xlm_main and not btc_main:
        problems.append(
            "config: bitcoin.network: soroban.network is mainnet but the Bitcoin network is a test network"
        )
    return problems


def _production_problems(s: Settings) -> list[str]:
    problems = []
    auth = s.auth
    if auth.jwt_algorithm.startswith("HS"):
        secret = auth.jwt_secret.get_secret_value()
        if not secret:
            problems.append("config: auth.jwt_secret: required in production (set JWT_SECRET)")
        elif secret in _published_secrets():
            problems.append("config: auth.jwt_secret: is a published development secret; generate a new one")
        elif len(secret.encode()) < MIN_JWT_SECRET_BYTES:
            problems.append(f"config: auth.jwt_secret: shorter than {MIN_JWT_SECRET_BYTES} bytes")
    elif not (auth.jwt_private_key_file and auth.jwt_public_key_file):
        problems.append("config: auth.jwt_private_key_file: asymmetric JWT needs both key files")
    if s.soroban.network == "standalone":
        problems.append("config: soroban.network: 'standalone' is the local sandbox network")
    if is_local_url(s.soroban.rpc_url):
        problems.append("config: soroban.rpc_url: points at a local sandbox; use a real Stellar RPC")
    if s.bitcoin.network == "regtest":
        problems.append("config: bitcoin.network: 'regtest' is the local sandbox network")
    if is_local_url(s.bitcoin.esplora_url):
        problems.append("config: bitcoin.esplora_url: points at a local sandbox; use a real Esplora API")
    return problems


def _reserves_problems(s: Settings) -> list[str]:
    r = s.reserves
    problems = []
    if not r.warning_ratio_bps >= r.critical_ratio_bps >= r.minimum_ratio_bps:
        problems.append("config: reserves.warning_ratio_bps: must be >= critical_ratio_bps >= minimum_ratio_bps")
    if not r.warning_discrepancy_bps <= r.critical_discrepancy_bps <= r.emergency_discrepancy_bps:
        problems.append("config: reserves.warning_discrepancy_bps: must be <= critical <= emergency")
    # A missing key stops the worker at start (SigningKeyMissing), like a missing operator key.
    key = r.signing_key.get_secret_value() if r.signing_key is not None else None
    if s.app_env == "production" and key in _published_yaml_values("reserves", "signing_key"):
        problems.append("config: reserves.signing_key: is a published test key")
    return problems


def _channel_problems(s: Settings) -> list[str]:
    """Channel secrets: the right count, valid, distinct, not the operator; never published ones
    in production. A missing file is left to ``custody dev`` outside production (it creates it)."""
    c = s.soroban
    if c.channel_count == 0:
        return []
    file_missing = not c.channel_secrets and (c.channel_secrets_file is None or not Path(c.channel_secrets_file).exists())
    if file_missing:
        if s.app_env == "production" or c.channel_secrets_file is None:
            return ["config: soroban.channel_secrets: soroban.channel_count > 0 needs channel_secrets or "
                    "an existing channel_secrets_file"]
        return []
    from chains.soroban.setup import ChannelKeyError, channel_keys  # late: config stays first

    try:
        keys = channel_keys(c)
    except ChannelKeyError as exc:
        return exc.lines
    problems: list[str] = []
    if s.app_env == "production":
        published = _published_yaml_values("soroban", "channel_secrets")
        if any(k.secret in published for k in keys):
            problems.append("config: soroban.channel_secrets: holds a published development seed")
    return problems


def check_settings(s: Settings) -> list[str]:
    """Return one line per problem in ``s`` (empty when valid).

    Every environment: passphrase matches the Stellar network, Bitcoin and Stellar are both
    mainnet or both test networks, fee floor <= cap, CORS never ``*`` with credentials, the
    custody descriptor parses for the network and the signer settings can meet its quorum.
    Production also refuses published or short (< 32 bytes) JWT secrets and sandbox chains.
    """
    problems = _network_problems(s)
    if s.bitcoin.fee_rate_floor_sat_vb > s.bitcoin.fee_rate_cap_sat_vb:
        problems.append("config: bitcoin.fee_rate_floor_sat_vb: greater than bitcoin.fee_rate_cap_sat_vb")
    if "*" in s.cors.allow_origins and s.cors.allow_credentials:
        problems.append("config: cors.allow_origins: '*' cannot be combined with cors.allow_credentials")
    hmac_without_secret = s.auth.jwt_algorithm.startswith("HS") and not s.auth.jwt_secret.get_secret_value()
    if hmac_without_secret and s.app_env != "production":  # production says it more strongly below
        problems.append("config: auth.jwt_secret: required (set JWT_SECRET)")
    problems.extend(_kyc_key_problems(s))
    problems.extend(_reserves_problems(s))
    problems.extend(_channel_problems(s))
    from chains.bitcoin.setup import custody_problems  # imported late to keep config first
    from domain.withdrawals import minimum_floor_sats

    custody, custody_lines = custody_problems(s.bitcoin)
    problems.extend(custody_lines)
    script = {"custody": custody} if custody is not None else {}
    floor = minimum_floor_sats(s.bitcoin.fee_rate_cap_sat_vb, s.bitcoin.dust_limit_sats, **script)
    if s.withdrawals.minimum_sats < floor:
        problems.append("config: withdrawals.minimum_sats: below the worst-case fee at the fee cap plus dust")
    if s.app_env == "production":
        problems.extend(_production_problems(s))
    return problems
