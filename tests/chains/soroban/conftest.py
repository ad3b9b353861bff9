"""Fixtures: the Soroban sandbox over real HTTP on an ephemeral port, and clients for it.

One sandbox serves the whole folder (closing a ledger every 50 ms); tests isolate
themselves with fresh funded accounts and reset fault knobs after use.
"""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from stellar_sdk import Keypair

from chains.soroban import ContractAddresses, Contracts, SorobanClient
from custody_sandbox.soroban import (
    CONTRACT_ADDRESSES,
    DEFAULT_PASSPHRASE,
    OPERATOR_SECRET_FILE,
    SandboxServer,
    create_app,
)

LEDGER_INTERVAL_SECONDS = 0.05
FAR_FUTURE = int(time.time()) + 365 * 24 * 3600


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("SOROBAN_TESTNET_RPC_URL"):
        return
    skip = pytest.mark.skip(reason="set SOROBAN_TESTNET_RPC_URL to run testnet read-only tests")
    for item in items:
        if item.get_closest_marker("testnet") is not None:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxServer]:
    state_dir = tmp_path_factory.mktemp("soroban-sandbox")
    # Depth 6, as on mainnet: the router tests check that fewer confirmations are refused.
    app = create_app(state_dir, ledger_interval_seconds=LEDGER_INTERVAL_SECONDS, seed=1234, min_confirmations=6)
    with SandboxServer(app) as server:
        yield server


@pytest.fixture
def operator(sandbox: SandboxServer) -> Keypair:
    return Keypair.from_secret((Path(sandbox.state.state_dir) / OPERATOR_SECRET_FILE).read_text().strip())


@pytest.fixture
def addresses() -> ContractAddresses:
    return ContractAddresses(**CONTRACT_ADDRESSES)


@pytest_asyncio.fixture
async def client(sandbox: SandboxServer, operator: Keypair, addresses: ContractAddresses) -> AsyncIterator[SorobanClient]:
    c = SorobanClient(
        rpc_url=sandbox.url,
        network_passphrase=DEFAULT_PASSPHRASE,
        operator=operator,
        contracts=addresses,
        tx_timeout_seconds=30,
        poll_interval_seconds=0.02,
        max_wait_seconds=20,
    )
    yield c
    await c.close()


@pytest.fixture
def contracts(client: SorobanClient) -> Contracts:
    return Contracts.for_client(client)


@pytest.fixture
def faults(sandbox: SandboxServer) -> Iterator[httpx.Client]:
    """An HTTP client for the sandbox-only endpoints; fault knobs are cleared afterwards."""
    with httpx.Client(base_url=sandbox.url) as http:
        yield http
        http.post("/sandbox/faults", json={
            "try_again_later_rate": 0.0, "drop_response_rate": 0.0, "inclusion_delay_ledgers": 0, "unavailable": False,
        })


@pytest.fixture
def fund(sandbox: SandboxServer):
    """Create and fund a new account through the friendbot endpoint; returns its keypair."""

    def make() -> Keypair:
        kp = Keypair.random()
        resp = httpx.get(f"{sandbox.url}/friendbot", params={"addr": kp.public_key})
        resp.raise_for_status()
        return kp

    return make


@pytest_asyncio.fixture
async def verified_user(contracts: Contracts, fund) -> Keypair:
    """A funded account registered on kyc_registry at tier 2 (Verified)."""
    user = fund()
    await contracts.kyc.register_customer(user.public_key, 2, "CH", FAR_FUTURE)
    return user


# ---- Postgres for the channel pool (a database of its own; no Temporal needed) ---------------
@pytest.fixture(scope="session")
async def lease_db() -> AsyncIterator[str]:
    """A migrated database private to this folder's channel tests."""
    from tests.fixtures.postgres import migrated_database

    with migrated_database("custody_channels") as url:
        yield url


@pytest.fixture(scope="session")
async def lease_sessions(lease_db: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    from tests.fixtures.postgres import sessions_for

    async with sessions_for(lease_db) as sessions:
        yield sessions
