"""Read-only calls against a real Stellar RPC (``-m testnet``; needs SOROBAN_TESTNET_RPC_URL).

Optional: SOROBAN_TESTNET_PASSPHRASE (default: the public testnet's), and for contract reads
SOROBAN_TESTNET_ACCOUNT (an existing G… account used as simulation source) plus
SOROBAN_TESTNET_TOKEN_ID (a SEP-41 token contract, e.g. the native SAC).
"""

from __future__ import annotations

import os

import pytest
from stellar_sdk import Keypair, Network, SorobanServerAsync

from chains.soroban import ContractAddresses, SorobanClient, fetch_events

pytestmark = pytest.mark.testnet


def _url() -> str:
    return os.environ["SOROBAN_TESTNET_RPC_URL"]


async def test_network_health_and_ledger() -> None:
    passphrase = os.environ.get("SOROBAN_TESTNET_PASSPHRASE", Network.TESTNET_NETWORK_PASSPHRASE)
    async with SorobanServerAsync(_url()) as server:
        assert (await server.get_network()).passphrase == passphrase
        health = await server.get_health()
        assert health.status == "healthy"
        latest = await server.get_latest_ledger()
        assert latest.sequence >= health.oldest_ledger
        assert (await server.get_fee_stats()).latest_ledger > 0
        token = os.environ.get("SOROBAN_TESTNET_TOKEN_ID")
        if token:
            page = await fetch_events(server, contract_ids=[token], start_ledger=max(health.oldest_ledger, latest.sequence - 100))
            assert page.latest_ledger >= latest.sequence


async def test_contract_read_via_simulation() -> None:
    account, token = os.environ.get("SOROBAN_TESTNET_ACCOUNT"), os.environ.get("SOROBAN_TESTNET_TOKEN_ID")
    if not (account and token):
        pytest.skip("set SOROBAN_TESTNET_ACCOUNT and SOROBAN_TESTNET_TOKEN_ID for contract reads")
    passphrase = os.environ.get("SOROBAN_TESTNET_PASSPHRASE", Network.TESTNET_NETWORK_PASSPHRASE)
    client = SorobanClient(
        rpc_url=_url(), network_passphrase=passphrase, operator=Keypair.from_public_key(account),
        contracts=ContractAddresses(token, token, token, token),
    )
    try:
        await client.check_network()
        decimals = await client.read(token, "decimals")
        assert decimals.u32 is not None
    finally:
        await client.close()
