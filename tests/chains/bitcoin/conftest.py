"""Fixtures for Bitcoin chain tests: a fresh in-process Esplora sandbox per test, and a regtest
custody wallet built from the public BIP-84 test mnemonic (a published vector, never a real key)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from embit import bip32, bip39
from embit.networks import NETWORKS

from chains.bitcoin.esplora import EsploraClient
from chains.bitcoin.wallet import CustodyWallet
from custody_sandbox.esplora import create_app
from domain.bitcoin_address import Network

BIP84_MNEMONIC = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about"


class SandboxControl:
    """Drives the sandbox-only endpoints."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def faucet(self, address: str, sats: int) -> str:
        response = await self.http.post("/sandbox/faucet", json={"address": address, "sats": sats})
        response.raise_for_status()
        return response.json()["txid"]

    async def mine(self, blocks: int = 1) -> int:
        response = await self.http.post("/sandbox/mine", json={"blocks": blocks})
        response.raise_for_status()
        return response.json()["height"]

    async def reorg(self, depth: int, drop_txids: list[str] | None = None, include_mempool: bool = True) -> dict:
        body = {"depth": depth, "drop_txids": drop_txids or [], "include_mempool": include_mempool}
        response = await self.http.post("/sandbox/reorg", json=body)
        response.raise_for_status()
        return response.json()

    async def set_fee_estimates(self, estimates: dict[str, float]) -> None:
        (await self.http.post("/sandbox/fee-estimates", json=estimates)).raise_for_status()


@pytest.fixture
def sandbox_app():
    return create_app()


@pytest.fixture
async def esplora(sandbox_app) -> AsyncIterator[EsploraClient]:
    client = EsploraClient("http://sandbox", transport=httpx.ASGITransport(app=sandbox_app), max_retries=0)
    yield client
    await client.aclose()


@pytest.fixture
async def http(sandbox_app) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the test's sandbox over its REST API (Esplora and sandbox-only endpoints)."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sandbox_app), base_url="http://sandbox") as client:
        yield client


@pytest.fixture
async def sandbox(sandbox_app) -> AsyncIterator[SandboxControl]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sandbox_app), base_url="http://sandbox") as http:
        yield SandboxControl(http)


@pytest.fixture(scope="session")
def regtest_keys() -> dict[str, str]:
    root = bip32.HDKey.from_seed(bip39.mnemonic_to_seed(BIP84_MNEMONIC), version=NETWORKS["test"]["xprv"])
    account = root.derive("m/84h/1h/0h")
    return {
        "fingerprint": root.my_fingerprint.hex(),
        "root_tprv": root.to_base58(),
        "account_tprv": account.to_base58(),
        "account_tpub": account.to_public().to_base58(),
    }


@pytest.fixture(scope="session")
def wallet(regtest_keys: dict[str, str]) -> CustodyWallet:
    keys = regtest_keys
    return CustodyWallet(f"wpkh([{keys['fingerprint']}/84h/1h/0h]{keys['account_tpub']}/<0;1>/*)", Network.REGTEST)
