"""Typed settings for every process of the engine.

Sources, highest priority first:

1. keyword arguments to :func:`load_settings` (tests);
2. environment variables ``CUSTODY_<SECTION>__<KEY>`` (for example ``CUSTODY_SERVER__PORT=9000``,
   ``CUSTODY_SOROBAN__CONTRACTS__ISTSI_TOKEN=C...``);
3. the seed's short names: ``DATABASE_URL``, ``JWT_SECRET``, ``SOROBAN_NETWORK``, ``SOROBAN_RPC_URL``,
   ``BITCOIN_NETWORK``, ``ESPLORA_URL``, ``TEMPORAL_ADDRESS``;
4. ``config/<APP_ENV>.yaml`` (``APP_ENV`` is ``development`` by default, or ``test`` / ``production``);
5. the defaults below.

Start-up validation lives in :mod:`config.validation`; use :func:`load_settings`, which runs it and
raises :class:`ConfigError` with one line per bad key and never echoes a value.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

CONFIG_DIR = Path(__file__).resolve().parent
AppEnv = Literal["development", "test", "production"]
StellarNetwork = Literal["standalone", "testnet", "futurenet", "mainnet"]
BitcoinNetwork = Literal["regtest", "signet", "testnet", "mainnet"]

#: Network passphrases per Stellar network (stellar-core / SEP-0023 conventions).
STELLAR_PASSPHRASES: dict[str, str] = {
    "standalone": "Standalone Network ; February 2017",
    "testnet": "Test SDF Network ; September 2015",
    "futurenet": "Test SDF Future Network ; October 2022",
    "mainnet": "Public Global Stellar Network ; September 2015",
}


class ConfigError(Exception):
    """Invalid configuration. ``problems`` holds one line per bad key; no line contains a value."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


class ServerSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=1, le=65535)
    body_limit_bytes: int = Field(1_048_576, gt=0)
    #: Peers whose ``X-Forwarded-For`` is believed (IPs or CIDRs).
    trusted_proxies: list[str] = []
    #: Send ``Strict-Transport-Security`` (production behind TLS).
    hsts: bool = False


class DatabaseSettings(BaseModel):
    url: str = "postgresql+psycopg://postgres@127.0.0.1:5432/custody_dev"
    pool_size: int = Field(10, ge=1)
    max_overflow: int = Field(10, ge=0)
    connect_timeout_seconds: int = Field(5, ge=1)
    #: Directory for ``custody db backup`` files.
    backup_dir: Path = Path(".data/backups")

    @field_validator("url")
    @classmethod
    def _use_psycopg_driver(cls, value: str) -> str:
        for prefix in ("postgres://", "postgresql://"):
            if value.startswith(prefix):
                return "postgresql+psycopg://" + value[len(prefix) :]
        if not value.startswith("postgresql+psycopg://"):
            raise ValueError("must be a postgresql:// URL")
        return value

    def libpq_url(self) -> str:
        """The URL without the SQLAlchemy driver suffix, for psql, pg_dump and psycopg."""
        return "postgresql://" + self.url.split("://", 1)[1]

    def redacted_url(self) -> str:
        """The URL with any password replaced by ``***`` (safe to log)."""
        from sqlalchemy.engine import make_url

        return make_url(self.url).render_as_string(hide_password=True)


class TemporalSettings(BaseModel):
    address: str = "127.0.0.1:7233"
    namespace: str = "default"
    task_queue: str = "custody"
    ui_url: str = "http://127.0.0.1:8233"
    #: Time running activities get to finish when a worker stops.
    graceful_shutdown_seconds: int = Field(30, ge=0)
    #: ``host:port`` where the worker serves Temporal SDK metrics for Prometheus ("" = off).
    metrics_bind_address: str = ""
    #: Whether a worker creates or updates the schedules (deposit scan, proof of reserves,
    #: reconciliation) and starts the event monitor when it starts. Schedule ids are global to
    #: the namespace, so only a worker of the deployment that owns them should: turn it off for a
    #: worker that joins someone else's namespace (a test's throwaway worker, a canary).
    manage_schedules: bool = True


class AuthSettings(BaseModel):
    jwt_secret: SecretStr = SecretStr("")
    jwt_algorithm: Literal["HS256", "HS384", "HS512", "RS256", "ES256", "EdDSA"] = "HS256"
    #: PEM files for asymmetric algorithms; the secret is then unused.
    jwt_private_key_file: Path | None = None
    jwt_public_key_file: Path | None = None
    jwt_issuer: str = "custody-engine"
    jwt_audience: str = "custody-api"
    token_lifetime_seconds: int = Field(86_400, gt=0)
    #: argon2id parameters; RFC 9106 §4 second recommended option by default.
    argon2_time_cost: int = Field(3, ge=1)
    argon2_memory_cost_kib: int = Field(65_536, ge=8)
    argon2_parallelism: int = Field(4, ge=1)
    # Sign-in attempt limits (domain/sign_in_limits.py; README "Sign-in limits" gives the reasons).
    #: Failed sign-ins of one login name in a row that are answered 401; the next one locks it.
    login_failures_per_account: int = Field(5, ge=1)
    #: Failures (per account and per IP) older than this are forgotten, in seconds.
    login_failure_window_seconds: int = Field(900, ge=1)
    #: First lockout of a login name; each further lockout in a row doubles, up to the maximum.
    lockout_base_seconds: int = Field(60, ge=1)
    lockout_max_seconds: int = Field(3_600, ge=1)
    #: Failed sign-ins from one IP, over all accounts, per failure window; more are refused (429).
    login_failures_per_ip: int = Field(30, ge=1)
    #: Successful sign-ins from one IP per minute (an office behind one NAT, an onboarding script).
    logins_per_ip_per_minute: int = Field(120, ge=1)
    #: Registrations from one IP per registration window.
    registrations_per_ip: int = Field(30, ge=1)
    registration_window_seconds: int = Field(3_600, ge=1)
    # In-process cache of revocations and account states (api/auth/cache.py), kept true by
    # LISTEN auth_changes; 0 entries turns it off (every request reads Postgres).
    #: Most token ids (``jti``) remembered as revoked or not, per API process.
    cache_max_tokens: int = Field(100_000, ge=0)
    #: Most account states (active, role, token cut-off) remembered, per API process.
    cache_max_accounts: int = Field(50_000, ge=0)
    #: A silent listening connection is probed after this long; unanswered, the cache is dropped.
    cache_heartbeat_seconds: float = Field(5.0, gt=0)


class SorobanContracts(BaseModel):
    integration_router: str = ""
    kyc_registry: str = ""
    istsi_token: str = ""
    reserve_manager: str = ""


class SorobanSettings(BaseModel):
    network: StellarNetwork = "standalone"
    rpc_url: str = "http://127.0.0.1:8000"
    #: Empty means "the passphrase of ``network``".
    network_passphrase: str = ""
    contracts: SorobanContracts = SorobanContracts()
    operator_secret: SecretStr | None = None
    operator_secret_file: Path | None = None
    base_fee_stroops: int = Field(100, ge=100)
    tx_timeout_seconds: int = Field(60, ge=5)
    poll_interval_seconds: float = Field(1.0, gt=0)
    #: The network's ledger close interval (5 s on the public networks); signed authorization
    #: entries stay valid for ``tx_timeout_seconds`` worth of ledgers.
    ledger_seconds: float = Field(5.0, gt=0)
    #: Channel accounts that source and pay for Soroban transactions (0: the operator is the
    #: source, one transaction per ledger). Their secrets: ``channel_secrets`` (env
    #: ``CUSTODY_SOROBAN__CHANNEL_SECRETS``, a JSON list) or ``channel_secrets_file`` (one seed
    #: a line, mode 0600); exactly ``channel_count`` of them.
    channel_count: int = Field(0, ge=0, le=1000)
    channel_secrets: list[SecretStr] = []
    channel_secrets_file: Path | None = None
    #: Alert ``soroban_channel_low_balance`` when a channel holds less XLM than this (stroops).
    channel_min_balance_stroops: int = Field(50_000_000, ge=0)
    #: How often a channel's balance and sequence number are reloaded from the network.
    channel_balance_check_seconds: float = Field(300.0, gt=0)
    #: A lease outlives the transaction's time bound by this much before another worker may
    #: resolve its envelope by hash.
    channel_lease_margin_seconds: float = Field(60.0, gt=0)
    #: How long a submission waits for a free channel before failing (retryably).
    channel_wait_seconds: float = Field(120.0, gt=0)

    def passphrase(self) -> str:
        return self.network_passphrase or STELLAR_PASSPHRASES[self.network]


class BitcoinSettings(BaseModel):
    network: BitcoinNetwork = "regtest"
    esplora_url: str = "http://127.0.0.1:3002"
    min_confirmations: int = Field(6, ge=1)
    large_deposit_threshold_sats: int = Field(100_000_000, gt=0)
    large_deposit_confirmations: int = Field(6, ge=1)
    #: Public account descriptor of the custody wallet (no private keys), multipath: single key
    #: ``wpkh([fp/84'/1'/0']tpub…/<0;1>/*)`` (BIP 84) or a quorum
    #: ``wsh(sortedmulti(M,[fp1/48'/1'/0'/2']tpub1…/<0;1>/*,…))`` (BIP 48/383/389); or a file
    #: holding it (development bootstraps a single-key one).
    custody_descriptor: str = ""
    custody_descriptor_file: Path | None = None
    #: ``hot``: the engine holds one key of the descriptor (``signing_secret``) and signs with it
    #: (test networks only); ``external``: it holds none (mainnet). Other signatures of a quorum
    #: come from external signers through the admin API.
    signer: Literal["hot", "external"] = "hot"
    #: Extended private key (tprv) of the hot signer; from the environment or a secret file only.
    signing_secret: SecretStr | None = None
    signing_secret_file: Path | None = None
    #: Master fingerprints (8 hex digits) of the descriptor keys held by external signers (people,
    #: HSMs) who sign through the admin API; empty: every key the hot signer does not hold.
    external_signer_fingerprints: list[str] = []
    fee_rate_floor_sat_vb: int = Field(1, ge=1)
    fee_rate_cap_sat_vb: int = Field(100, ge=1)
    fee_target_blocks: int = Field(3, ge=1)
    dust_limit_sats: int = Field(546, ge=1)
    #: A payout still unconfirmed this many blocks after its broadcast is bumped (0: only by hand).
    fee_bump_after_blocks: int = Field(3, ge=0)
    #: Confirmation target of a bump's fee rate (``fee-estimates``), within the fee cap.
    fee_bump_target_blocks: int = Field(1, ge=1)
    #: ``rbf``: replace the payout (BIP 125), falling back to CPFP from the change when the
    #: replacement is impossible or refused; ``cpfp``: always a child paying for the payout.
    fee_bump_method: Literal["rbf", "cpfp"] = "rbf"
    request_timeout_seconds: float = Field(10.0, gt=0)
    max_retries: int = Field(3, ge=0)


class TierLimitSettings(BaseModel):
    """One tier's limits in satoshis: single transaction, rolling 24 h, rolling 30 days."""

    single_sats: int = Field(gt=0)
    daily_sats: int = Field(gt=0)
    monthly_sats: int = Field(gt=0)


def _default_tier_limits() -> dict[int, TierLimitSettings]:
    btc = 100_000_000
    return {
        1: TierLimitSettings(single_sats=btc // 100, daily_sats=btc // 20, monthly_sats=btc // 2),
        2: TierLimitSettings(single_sats=btc // 10, daily_sats=btc // 2, monthly_sats=5 * btc),
        3: TierLimitSettings(single_sats=btc, daily_sats=5 * btc, monthly_sats=50 * btc),
        4: TierLimitSettings(single_sats=10 * btc, daily_sats=100 * btc, monthly_sats=1_000 * btc),
    }


class KycSettings(BaseModel):
    #: Minimum tier per operation (docs/CONTRACTS.md kyc_registry: deposit Basic, withdrawal Verified).
    min_tier_deposit: int = Field(1, ge=1, le=4)
    min_tier_withdrawal: int = Field(2, ge=1, le=4)
    tier_limits: dict[int, TierLimitSettings] = Field(default_factory=_default_tier_limits)
    approval_validity_days: int = Field(365, ge=1)
    #: CSV ``kind,value`` of sanctioned names and addresses.
    sanctions_list_file: Path = CONFIG_DIR / "sanctions_sample.csv"
    #: AES-256-GCM keys for ``verification_data`` by key id (base64 of 32 bytes).
    encryption_keys: dict[str, SecretStr] = {}
    #: Key id used for new records; older ids stay readable, so keys can rotate.
    active_key_id: str = ""


class ReservesSettings(BaseModel):
    """Proof of reserves, reconciliation, event monitor (issue 9). Ratios and bands in basis points."""

    #: How often the proof-of-reserves schedule runs (daily; development.yaml: minutes).
    proof_interval_seconds: int = Field(86_400, ge=60)
    #: How often reconciliation runs (hourly); overlapping runs are skipped.
    reconciliation_interval_seconds: int = Field(3_600, ge=60)
    #: Reserve-ratio lines (docs/CONTRACTS.md reserve_manager): below warning, critical, minimum. A
    #: 1:1 redeemable token backed at exactly 100 % is healthy, so all three default to 10000;
    #: a buffer above 100 % is the operator's option (e.g. 11000 / 10500 / 10000).
    warning_ratio_bps: int = Field(10_000, ge=0)
    critical_ratio_bps: int = Field(10_000, ge=0)
    minimum_ratio_bps: int = Field(10_000, ge=0)
    #: Discrepancy bands: below warning is minor; emergency pauses minting and withdrawals.
    warning_discrepancy_bps: int = Field(100, ge=1)
    critical_discrepancy_bps: int = Field(300, ge=1)
    emergency_discrepancy_bps: int = Field(500, ge=1)
    #: Ed25519 key signing proofs: 32-byte seed as hex, from the environment or a secret file.
    signing_key: SecretStr | None = None
    signing_key_file: Path | None = None
    #: Unused change addresses scanned past the last used one (BIP 44 gap limit).
    change_gap_limit: int = Field(20, ge=1)
    #: Custody outputs reconciliation re-checks against the chain source per run (least
    #: recently verified first; the block scanner follows every block in between).
    reconciliation_sample_outputs: int = Field(50, ge=0)
    event_monitor_page_size: int = Field(100, ge=1, le=10_000)
    event_monitor_poll_seconds: float = Field(5.0, gt=0)
    #: Ledger the event monitor starts from on first run (0: the RPC's oldest retained ledger).
    event_monitor_start_ledger: int = Field(0, ge=0)
    #: Pages per event-monitor run before it continues as new (keeps its history short).
    event_monitor_pages_per_run: int = Field(500, ge=1)


class DepositSettings(BaseModel):
    """The deposit workflow and its detection scan (issue 7). Depths in blocks, times in seconds."""

    #: Smallest deposit accepted, in satoshis (keeps dust and fee-losing outputs out).
    minimum_sats: int = Field(10_000, ge=1)
    #: How long a deposit that left the chain (or was never seen) may stay away before it fails
    #: as ``reorged`` / ``tx_not_found``, counted in blocks mined meanwhile.
    reorg_window_blocks: int = Field(6, ge=1)
    #: After the mint, keep watching the outpoint for this many more blocks (0: stop at once).
    watch_blocks_after_mint: int = Field(6, ge=0)
    #: Pause between chain polls of one deposit (durable timer).
    poll_interval_seconds: float = Field(30.0, gt=0)
    #: How often the scheduled scan of deposit addresses runs.
    detection_interval_seconds: int = Field(60, ge=1)
    #: Attempts of one activity before the operation moves to ``needs_attention``.
    activity_max_attempts: int = Field(8, ge=1)
    #: Start-to-close timeout of one deposit activity attempt; a worker that dies mid-attempt is
    #: noticed after this (the mint also heartbeats, so it is noticed sooner).
    activity_timeout_seconds: float = Field(30.0, gt=0)
    #: How long a deposit waits at ``awaiting_kyc`` for its user's KYC before it moves to
    #: ``needs_attention`` (``kyc_wait_expired``) so an operator can refund or credit it, in days.
    kyc_wait_days: float = Field(30.0, gt=0)
    #: A deposit waiting on its user (KYC or limit window) re-checks at least this often, in case a
    #: ``kyc_changed`` signal was missed (durable timer). A limit wait also re-checks when its
    #: window frees.
    user_wait_recheck_seconds: float = Field(3_600.0, gt=0)
    #: Deposit claims (POST) of one user whose transaction is still only in the mempool; one more
    #: is refused (409 ``too_many_unconfirmed_claims``) until earlier ones confirm. Confirmed
    #: claims and detected deposits are never capped.
    max_unconfirmed_claims_per_user: int = Field(5, ge=1)


class WithdrawalSettings(BaseModel):
    """The withdrawal workflow (issue 8). Amounts in satoshis, depths in blocks, times in seconds.

    Fee rule: the user pays the Bitcoin network fee out of the withdrawn amount (see
    :mod:`domain.withdrawals`), so ``minimum_sats`` must cover the worst-case fee plus the 546-sat
    dust limit (checked in :mod:`config.validation`).
    """

    #: Smallest withdrawal accepted, in satoshis (worst-case fee at the fee cap + 546 dust).
    minimum_sats: int = Field(30_000, ge=547)
    #: Withdrawals of at least this many satoshis wait for an operator's approval.
    approval_threshold_sats: int = Field(10_000_000, ge=1)
    #: How long a withdrawal waits for approval before it is cancelled (and released).
    approval_timeout_seconds: int = Field(86_400, ge=1)
    #: Depth the BTC payout must reach before the withdrawal completes on chain.
    payout_confirmations: int = Field(3, ge=1)
    #: Pause between chain polls of one withdrawal (durable timer).
    poll_interval_seconds: float = Field(30.0, gt=0)
    #: Attempts of one activity before the operation moves to ``needs_attention``.
    activity_max_attempts: int = Field(8, ge=1)
    #: Start-to-close timeout of one withdrawal activity attempt (chain calls also heartbeat).
    activity_timeout_seconds: float = Field(60.0, gt=0)
    #: A payout batch closes this long after its oldest withdrawal joined it (domain/payout_batches.py).
    batch_interval_seconds: float = Field(600.0, gt=0)
    #: ... or at once when it holds this many withdrawals (one output each).
    batch_max_outputs: int = Field(100, ge=1, le=250)
    #: A withdrawal may ask to be paid at once in a transaction of its own, bearing its whole fee.
    asap_allowed: bool = True


class LoggingSettings(BaseModel):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["json", "console"] = "json"


class CorsSettings(BaseModel):
    allow_origins: list[str] = []
    allow_methods: list[str] = ["GET", "POST", "PUT", "DELETE"]
    allow_headers: list[str] = ["Content-Type", "Authorization", "Idempotency-Key"]
    allow_credentials: bool = True


class DevSettings(BaseModel):
    """Only ``custody dev`` reads these: where the embedded stack keeps its state and listens."""

    data_dir: Path = Path(".data")
    temporal_port: int = 7233
    temporal_ui_port: int = 8233
    soroban_sandbox_port: int = 8000
    bitcoin_sandbox_port: int = 3002
    #: The Bitcoin sandbox mines a block this often (0: only on ``POST /sandbox/mine``).
    bitcoin_mine_interval_seconds: float = 10.0
    #: The Soroban sandbox closes a ledger this often.
    soroban_ledger_interval_seconds: float = 1.0


_SEED_ENV_NAMES: dict[str, tuple[str, ...]] = {
    "DATABASE_URL": ("database", "url"),
    "JWT_SECRET": ("auth", "jwt_secret"),
    "SOROBAN_NETWORK": ("soroban", "network"),
    "SOROBAN_RPC_URL": ("soroban", "rpc_url"),
    "BITCOIN_NETWORK": ("bitcoin", "network"),
    "ESPLORA_URL": ("bitcoin", "esplora_url"),
    "TEMPORAL_ADDRESS": ("temporal", "address"),
}


class _SeedEnvSource(PydanticBaseSettingsSource):
    """The seed's unprefixed environment names, mapped onto nested keys."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:  # pragma: no cover
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, (section, key) in _SEED_ENV_NAMES.items():
            value = os.environ.get(name)
            if value:
                out.setdefault(section, {})[key] = value
        return out


def current_env() -> str:
    return os.environ.get("APP_ENV", "development")


class Settings(BaseSettings):
    """All configuration, one nested section per concern."""

    model_config = SettingsConfigDict(
        env_prefix="CUSTODY_", env_nested_delimiter="__", extra="forbid", env_ignore_empty=True
    )

    app_env: AppEnv = "development"
    server: ServerSettings = ServerSettings()
    database: DatabaseSettings = DatabaseSettings()
    temporal: TemporalSettings = TemporalSettings()
    auth: AuthSettings = AuthSettings()
    soroban: SorobanSettings = SorobanSettings()
    bitcoin: BitcoinSettings = BitcoinSettings()
    kyc: KycSettings = KycSettings()
    deposits: DepositSettings = DepositSettings()
    reserves: ReservesSettings = ReservesSettings()
    withdrawals: WithdrawalSettings = WithdrawalSettings()
    logging: LoggingSettings = LoggingSettings()
    cors: CorsSettings = CorsSettings()
    dev: DevSettings = DevSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        yaml_file = Path(os.environ.get("CUSTODY_CONFIG_FILE") or CONFIG_DIR / f"{current_env()}.yaml")
        assert isinstance(env_settings, EnvSettingsSource)
        return (
            init_settings,
            env_settings,
            _SeedEnvSource(settings_cls),
            YamlConfigSettingsSource(settings_cls, yaml_file=yaml_file),
        )


def load_settings(**overrides: Any) -> Settings:
    """Build and validate settings for ``APP_ENV``.

    Raises:
        ConfigError: one line per bad key (``config: <key>: <reason>``), values never echoed.
    """
    from config.validation import check_settings

    overrides.setdefault("app_env", current_env())
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        raise ConfigError(
            [
                f"config: {'.'.join(str(p) for p in err['loc'])}: {err['msg']}"
                for err in exc.errors(include_input=False, include_url=False)
            ]
        ) from None
    problems = check_settings(settings)
    if problems:
        raise ConfigError(problems)
    return settings
