"""Deposit test helpers: a KYC'd depositor with a deposit address, the Bitcoin sandbox's controls,
and waiting on the operations projection."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from stellar_sdk import Keypair

from db.models import ChainSubmission, Operation
from db.queries import operations
from domain.roles import Role
from tests.fixtures.identity import Account
from tests.fixtures.waiting import eventually


@dataclass(frozen=True)
class Depositor:
    account: Account
    keypair: Keypair
    deposit_address: str

    @property
    def headers(self) -> dict[str, str]:
        return self.account.headers

    @property
    def stellar_address(self) -> str:
        return self.keypair.public_key


class BitcoinSandbox:
    """The Esplora sandbox's ``/sandbox/*`` controls (tests mine by hand)."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def pay(self, address: str, sats: int) -> tuple[str, int]:
        response = await self.http.post("/sandbox/faucet", json={"address": address, "sats": sats})
        response.raise_for_status()
        return response.json()["txid"], response.json()["vout"]

    async def mine(self, blocks: int = 1) -> int:
        response = await self.http.post("/sandbox/mine", json={"blocks": blocks})
        response.raise_for_status()
        return response.json()["height"]

    async def reorg(self, depth: int, drop_txids: list[str]) -> dict:
        response = await self.http.post("/sandbox/reorg", json={"depth": depth, "drop_txids": drop_txids})
        response.raise_for_status()
        return response.json()


@pytest.fixture
def minting_enabled(system_unpaused: None) -> None:
    """Deposits need minting on (see ``system_unpaused``)."""


@pytest.fixture
async def btc(bitcoin_sandbox_url: str) -> AsyncIterator[BitcoinSandbox]:
    async with httpx.AsyncClient(base_url=bitcoin_sandbox_url) as http:
        yield BitcoinSandbox(http)


MakeDepositor = Callable[..., Awaitable[Depositor]]


@pytest.fixture
def make_depositor(make_user, approve_kyc, api_client: httpx.AsyncClient) -> MakeDepositor:
    """``await make_depositor(tier=2)``: a user with approved KYC, a funded Stellar account on the
    profile and an assigned deposit address."""

    async def make(*, tier: int = 2, on_chain: bool = True) -> Depositor:
        account = await make_user(Role.USER)
        keypair = await approve_kyc(account.id, tier=tier, on_chain=on_chain)
        response = await api_client.get("/api/integration/deposit-address", headers=account.headers)
        assert response.status_code == 200, response.text
        return Depositor(account, keypair, response.json()["address"])

    return make


WaitFor = Callable[..., Awaitable[Operation]]


@pytest.fixture
def wait_for(sessions: async_sessionmaker[AsyncSession]) -> WaitFor:
    """``await wait_for(operation_id, status=..., stage=..., confirmations=..., timeout=30)``: poll
    the projection until every given field matches."""

    async def wait(operation_id: uuid.UUID | str, *, status: str | None = None, stage: str | None = None,
                   confirmations: int | None = None, timeout: float = 30.0) -> Operation:
        wanted = {"status": status, "stage": stage, "confirmations": confirmations}
        last: Operation | None = None

        async def matches() -> Operation | None:
            nonlocal last
            async with sessions() as session:
                last = await operations.get_by_id(session, operation_id=uuid.UUID(str(operation_id)))
            return last if last is not None and all(v is None or getattr(last, k) == v for k, v in wanted.items()) \
                else None

        def what() -> str:
            seen = (last.status, last.stage, last.error) if last else None
            return f"operation {operation_id} to reach status={status} stage={stage}; last {seen}"

        return await eventually(matches, timeout=timeout, what=what)

    return wait


async def post_deposit(api_client: httpx.AsyncClient, depositor: Depositor, txid: str, vout: int, amount: int,
                       **extra: object) -> httpx.Response:
    body = {"btc_amount": amount, "btc_tx_hash": txid, "vout": vout, **extra}
    return await api_client.post("/api/integration/bitcoin-deposit", json=body, headers=depositor.headers)


async def operations_and_mints(sessions: async_sessionmaker[AsyncSession], txid: str,
                               operation_id: uuid.UUID) -> tuple[int, int]:
    """How many operations name the transaction ``txid``, and how many mints (chain submissions)
    the operation ``operation_id`` made: ``(1, 1)`` for a deposit credited exactly once."""
    async with sessions() as session:
        count = await session.scalar(select(func.count()).select_from(Operation).where(Operation.btc_tx_hash == txid))
        mints = await session.scalar(
            select(func.count()).select_from(ChainSubmission).where(
                ChainSubmission.idempotency_key == f"mint:{operation_id}")
        )
    return count or 0, mints or 0
