"""Building the Soroban side from configuration: operator key, channel keys, client, contracts."""

from __future__ import annotations

from pathlib import Path

from stellar_sdk import Keypair, Network
from stellar_sdk.exceptions import Ed25519SecretSeedInvalidError

from chains.soroban.addresses import ContractAddresses
from chains.soroban.channels import ChannelPool
from chains.soroban.client import SorobanClient
from chains.soroban.contracts import Contracts
from chains.soroban.keys import OperatorKey
from config.settings import SorobanSettings


class ChannelKeyError(Exception):
    """Channel account secrets are missing or invalid; ``lines`` has one line per problem
    (``config: soroban.channel_secrets…: reason``), never a secret."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines


def _channel_seeds(settings: SorobanSettings) -> tuple[str, list[str]]:
    if settings.channel_secrets:
        return "soroban.channel_secrets", [s.get_secret_value().strip() for s in settings.channel_secrets]
    path = settings.channel_secrets_file
    if path is None:
        return "soroban.channel_secrets_file", []
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise ChannelKeyError([f"config: soroban.channel_secrets_file: cannot read ({exc.strerror})"]) from None
    return "soroban.channel_secrets_file", [ln.strip() for ln in text.splitlines() if ln.strip()]


def channel_keys(settings: SorobanSettings, *, operator_public_key: str | None = None) -> list[Keypair]:
    """The ``channel_count`` channel keypairs from config or the secret file ([] when 0).

    Refuses invalid seeds, duplicates, the operator's own key and the network's root account
    (its seed is derived from the published passphrase).

    Raises:
        ChannelKeyError: one line per problem, naming the key and line, never the secret.
    """
    if settings.channel_count == 0:
        return []
    where, seeds = _channel_seeds(settings)
    if len(seeds) != settings.channel_count:
        raise ChannelKeyError([f"config: {where}: holds {len(seeds)} secrets, soroban.channel_count is "
                               f"{settings.channel_count}"])
    problems: list[str] = []
    keys: list[Keypair] = []
    root = Keypair.from_raw_ed25519_seed(Network(settings.passphrase()).network_id()).public_key
    for index, seed in enumerate(seeds):
        try:
            key = Keypair.from_secret(seed)
        except (Ed25519SecretSeedInvalidError, ValueError):
            problems.append(f"config: {where}[{index}]: not a valid Stellar secret seed")
            continue
        if key.public_key in {k.public_key for k in keys}:
            problems.append(f"config: {where}[{index}]: duplicate channel account {key.public_key}")
        elif key.public_key == operator_public_key:
            problems.append(f"config: {where}[{index}]: is the operator key; channels need their own accounts")
        elif key.public_key == root:
            problems.append(f"config: {where}[{index}]: is the network root account (a published seed)")
        keys.append(key)
    if problems:
        raise ChannelKeyError(problems)
    return keys


def contract_addresses(settings: SorobanSettings) -> ContractAddresses:
    c = settings.contracts
    return ContractAddresses(
        integration_router=c.integration_router,
        kyc_registry=c.kyc_registry,
        istsi_token=c.istsi_token,
        reserve_manager=c.reserve_manager,
    )


def operator_key(settings: SorobanSettings) -> OperatorKey:
    """From ``soroban.operator_secret`` (env ``CUSTODY_SOROBAN__OPERATOR_SECRET``) or the secret file.

    Raises:
        OperatorKeyError: neither holds a valid secret seed (the message never contains it).
    """
    if settings.operator_secret is not None:
        return OperatorKey.from_secret(settings.operator_secret.get_secret_value())
    return OperatorKey.load(secret_file=settings.operator_secret_file)


def soroban_client(
    settings: SorobanSettings, *, channels: ChannelPool | None = None, **overrides: object
) -> SorobanClient:
    """A client for the configured network; ``channels`` sources its transactions from a pool
    of channel accounts; ``overrides`` tune polling in tests."""
    options: dict[str, object] = {
        "channels": channels,
        "ledger_seconds": settings.ledger_seconds,
        "channel_wait_seconds": settings.channel_wait_seconds,
        "rpc_url": settings.rpc_url,
        "network_passphrase": settings.passphrase(),
        "operator": operator_key(settings),
        "contracts": contract_addresses(settings),
        "base_fee": settings.base_fee_stroops,
        "tx_timeout_seconds": settings.tx_timeout_seconds,
        "poll_interval_seconds": settings.poll_interval_seconds,
    }
    options.update(overrides)
    return SorobanClient(**options)  # type: ignore[arg-type]


def contracts(client: SorobanClient) -> Contracts:
    return Contracts.for_client(client)
