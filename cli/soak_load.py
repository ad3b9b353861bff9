"""The soak's clients: users who deposit and withdraw through the HTTP API while it may be down.

Users register through the API (``POST /api/auth/register``) with a funded Stellar account; their
KYC approval is recorded as a compliance officer's would be (a tier-2 ``kyc_records`` row and
``kyc_registry.register_customer`` signed by the operator) and they approve the router as SEP-41
spender with their own key, both before any fault starts. Every request names an
``Idempotency-Key`` and is retried with the same key while the API (or the chain behind it) is
down, as a careful client does, so a retry can never start a second operation.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx
from embit import bip32, script
from embit.networks import NETWORKS
from sqlalchemy import select
from stellar_sdk import Keypair

from db.models import KycRecord, TokenBalance
from workers.registry import WorkerDeps

#: HTTP statuses that mean "not now": the API restarting, Temporal or a chain briefly away.
RETRYABLE = {500, 502, 503, 504}
FAR_FUTURE = 365 * 24 * 3600


@dataclass
class User:
    id: uuid.UUID
    token: str
    keypair: Keypair
    deposit_address: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class Submitted:
    """One operation the soak asked for: ``kind`` deposit|withdrawal, the id once the API answered
    (a deposit whose claim never got through is still found by detection, by its ``outpoint``)."""

    kind: str
    user: User
    amount: int
    operation_id: str | None = None
    outpoint: str | None = None
    destination: str | None = None


@dataclass
class LoadStats:
    deposits: int = 0
    withdrawals: int = 0
    refused: dict[str, int] = field(default_factory=dict)
    retries: int = 0
    #: Answers per API base URL (how the requests spread over the API processes).
    served: dict[str, int] = field(default_factory=dict)


def foreign_address(rng: random.Random) -> str:
    """A fresh regtest P2WPKH address of a wallet that is not custody's (a payout destination)."""
    key = bip32.HDKey.from_seed(rng.randbytes(32))
    return script.p2wpkh(key.derive("m/84h/1h/0h/0/0").key).address(NETWORKS["regtest"])


class Clients:
    """Talks to the APIs in ``api_urls`` (round robin) and the Esplora faucet.

    Args:
        api_urls: base URLs (``http://127.0.0.1:PORT``) of the API processes.
        esplora_url: the Esplora sandbox. deps: the operator's view (KYC setup, reads).
        rng: the soak's seeded RNG (amounts, destinations). timeout_seconds: how long one request
            may keep failing before the soak gives up on it (raises ``RuntimeError``).
    """

    def __init__(self, api_urls: list[str], esplora_url: str, soroban_url: str, deps: WorkerDeps,
                 rng: random.Random, *, timeout_seconds: float = 120.0) -> None:
        self.api_urls = api_urls
        self.esplora_url = esplora_url
        self.soroban_url = soroban_url
        self.deps = deps
        self.rng = rng
        self.timeout_seconds = timeout_seconds
        self.http = httpx.AsyncClient(timeout=15)
        self.stats = LoadStats()
        self.submitted: list[Submitted] = []
        self._turn = 0

    async def close(self) -> None:
        await self.http.aclose()

    async def request(self, method: str, path: str, *, user: User | None = None, key: str | None = None,
                      json: dict | None = None) -> httpx.Response:
        """One API call, retried (same ``Idempotency-Key``, next API process) while the answer is
        a transport error or a 5xx; returns the first other answer.

        Raises:
            RuntimeError: still failing after ``timeout_seconds``.
        """
        headers = {**(user.headers if user else {}), **({"Idempotency-Key": key} if key else {})}
        deadline = time.monotonic() + self.timeout_seconds
        last = ""
        while time.monotonic() < deadline:
            base = self.api_urls[self._turn % len(self.api_urls)]
            self._turn += 1
            try:
                response = await self.http.request(method, base + path, headers=headers, json=json)
                if response.status_code not in RETRYABLE:
                    self.stats.served[base] = self.stats.served.get(base, 0) + 1
                    return response
                last = f"{response.status_code} {response.text[:200]}"
            except httpx.TransportError as exc:
                last = type(exc).__name__
            self.stats.retries += 1
            await asyncio.sleep(0.3)
        raise RuntimeError(f"{method} {path} kept failing for {self.timeout_seconds:g} s: {last}")

    # ---- setup (before any fault) --------------------------------------------------------------
    async def new_user(self) -> User:
        """Register a user with a funded Stellar account, approve KYC tier 2 and the router."""
        keypair = Keypair.random()
        (await self.http.get(f"{self.soroban_url}/friendbot", params={"addr": keypair.public_key})).raise_for_status()
        r = await self.request("POST", "/api/auth/register", json={
            "email": f"soak-{uuid.uuid4().hex[:10]}@example.com", "password": "a long soak passphrase 42",
            "stellar_address": keypair.public_key})
        if r.status_code != 201:
            raise RuntimeError(f"register: {r.status_code} {r.text}")
        token, user_id = r.json()["token"], uuid.UUID(r.json()["user"]["id"])
        now = datetime.now(UTC)
        async with self.deps.sessions() as session, session.begin():
            session.add(KycRecord(user_id=user_id, tier=2, status="approved", jurisdiction="CH", approved_at=now,
                                  expires_at=now + timedelta(days=365)))
        c = self.deps.contracts
        await c.kyc.register_customer(keypair.public_key, 2, "CH", int(time.time()) + FAR_FUTURE)
        latest = (await c.token.client.server.get_latest_ledger()).sequence
        await c.token.approve(keypair.public_key, c.router.address, 10**15, latest + 1_000_000, signer=keypair)
        address = (await self.request("GET", "/api/integration/deposit-address",
                                      user=User(user_id, token, keypair, ""))).json()["address"]
        return User(user_id, token, keypair, address)

    # ---- load ----------------------------------------------------------------------------------
    async def deposit(self, user: User, sats: int) -> Submitted:
        """Pay ``sats`` to the user's deposit address from the faucet and claim it."""
        paid = await self._esplora("POST", "/sandbox/faucet", json={"address": user.deposit_address, "sats": sats})
        sub = Submitted("deposit", user, sats, outpoint=f"{paid['txid']}:{paid['vout']}")
        self.submitted.append(sub)
        self.stats.deposits += 1
        r = await self.request("POST", "/api/integration/bitcoin-deposit", user=user, key=f"soak-dep-{sub.outpoint}",
                               json={"btc_amount": sats, "btc_tx_hash": paid["txid"], "vout": paid["vout"]})
        if r.status_code == 202:
            sub.operation_id = r.json()["operation_id"]
        else:  # e.g. too_many_unconfirmed_claims: detection still finds the payment by itself
            self._refused(f"deposit {r.json().get('code', r.status_code)}")
        return sub

    async def withdraw(self, user: User, amount: int) -> Submitted | None:
        """Ask for a withdrawal of ``amount`` to a fresh foreign address; None if refused."""
        destination = foreign_address(self.rng)
        r = await self.request("POST", "/api/integration/token-withdrawal", user=user, key=f"soak-wd-{destination}",
                               json={"token_amount": amount, "btc_address": destination})
        if r.status_code != 202:
            self._refused(f"withdrawal {r.json().get('code', r.status_code)}")
            return None
        sub = Submitted("withdrawal", user, amount, operation_id=r.json()["operation_id"], destination=destination)
        self.submitted.append(sub)
        self.stats.withdrawals += 1
        return sub

    async def available(self, user: User) -> int:
        """The user's credited balance not reserved by a withdrawal (the projection)."""
        async with self.deps.sessions() as session:
            row = (await session.execute(select(TokenBalance).where(TokenBalance.user_id == user.id))).scalars().first()
        return 0 if row is None else row.balance - row.reserved_balance

    def _refused(self, why: str) -> None:
        self.stats.refused[why] = self.stats.refused.get(why, 0) + 1

    async def _esplora(self, method: str, path: str, **kwargs) -> dict:
        deadline = time.monotonic() + self.timeout_seconds
        while True:
            try:
                r = await self.http.request(method, self.esplora_url + path, **kwargs)
                r.raise_for_status()
                return r.json()
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.3)
