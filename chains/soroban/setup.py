"""Building the Soroban side from configuration: operator key, client, typed contracts."""

from __future__ import annotations

from chains.soroban.addresses import ContractAddresses
from chains.soroban.client import SorobanClient
from chains.soroban.contracts import Contracts
from chains.soroban.keys import OperatorKey
from config.settings import SorobanSettings


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


def soroban_client(settings: SorobanSettings, **overrides: object) -> SorobanClient:
    """A client for the configured network; ``overrides`` tune polling in tests."""
    options: dict[str, object] = {
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
