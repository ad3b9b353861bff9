"""Protocol clients for the scripted journey: the engine's public HTTP API and WebSocket, the
Esplora API (plus the sandbox's faucet and miner), and Stellar RPC through stellar-sdk.

Nothing here reaches into the engine's database or workflows: the journey sees the engine the
way an outside client does.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import websockets
from embit import ec
from embit.networks import NETWORKS
from embit.script import p2wpkh


class StepFailed(Exception):
    """A journey step could not be verified; the message says what was expected and seen."""


@dataclass
class Account:
    email: str
    password: str
    token: str = ""
    user_id: str = ""
    stellar_secret: str | None = None

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class Api:
    """The engine's HTTP API; every non-2xx answer becomes :class:`StepFailed` with its problem code."""

    base_url: str
    http: httpx.AsyncClient = field(init=False)

    def __post_init__(self) -> None:
        self.http = httpx.AsyncClient(base_url=self.base_url, timeout=30)

    async def call(self, method: str, path: str, *, account: Account | None = None, ok: tuple[int, ...] = (200, 201, 202, 204), **kw: Any) -> Any:
        resp = await self.http.request(method, path, headers=account.headers if account else None, **kw)
        if resp.status_code not in ok:
            raise StepFailed(f"{method} {path} answered {resp.status_code}: {resp.text[:300]}")
        return resp.json() if resp.content else None

    async def register(self, prefix: str, stellar_address: str | None = None) -> Account:
        account = Account(email=f"{prefix}-{uuid.uuid4().hex[:8]}@demo.example", password=f"demo {uuid.uuid4().hex}")
        body = {"email": account.email, "password": account.password}
        if stellar_address:
            body["stellar_address"] = stellar_address
        out = await self.call("POST", "/api/auth/register", json=body)
        account.token, account.user_id = out["token"], out["user"]["id"]
        return account

    async def login(self, account: Account) -> None:
        out = await self.call("POST", "/api/auth/login", json={"email": account.email, "password": account.password})
        account.token, account.user_id = out["token"], out["user"]["id"]

    async def close(self) -> None:
        await self.http.aclose()


class OperationFeed:
    """One user's ``/api/ws`` subscription: collects every ``operation_update`` it receives."""

    def __init__(self, ws_url: str, account: Account):
        self.ws_url, self.account = ws_url, account
        self.updates: list[dict[str, Any]] = []
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()

    async def __aenter__(self) -> OperationFeed:
        self._task = asyncio.create_task(self._run())
        await asyncio.wait_for(self._ready.wait(), timeout=10)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()

    async def _run(self) -> None:
        async with websockets.connect(f"{self.ws_url}/api/ws?token={self.account.token}") as ws:
            await ws.send(json.dumps({"type": "subscribe"}))
            async for raw in ws:
                message = json.loads(raw)
                if message.get("type") == "subscribed":
                    self._ready.set()
                elif message.get("type") == "operation_update":
                    self.updates.append(message["operation"])

    def stages_of(self, operation_id: str) -> list[str]:
        seen: list[str] = []
        for update in self.updates:
            if update.get("id") == operation_id and update.get("stage") and (not seen or seen[-1] != update["stage"]):
                seen.append(update["stage"])
        return seen

    def final_status(self, operation_id: str) -> str | None:
        for update in reversed(self.updates):
            if update.get("id") == operation_id and update.get("status") in ("completed", "failed", "cancelled"):
                return update["status"]
        return None


@dataclass
class Esplora:
    """Esplora API of the Bitcoin sandbox, plus its faucet and miner."""

    base_url: str

    async def faucet(self, address: str, sats: int) -> tuple[str, int]:
        async with httpx.AsyncClient(base_url=self.base_url, timeout=30) as http:
            resp = await http.post("/sandbox/faucet", json={"address": address, "sats": sats})
            resp.raise_for_status()
            return resp.json()["txid"], resp.json()["vout"]

    async def mine(self, blocks: int = 1) -> int:
        async with httpx.AsyncClient(base_url=self.base_url, timeout=30) as http:
            resp = await http.post("/sandbox/mine", json={"blocks": blocks})
            resp.raise_for_status()
            return resp.json()["height"]

    async def utxos(self, address: str) -> list[dict[str, Any]]:
        async with httpx.AsyncClient(base_url=self.base_url, timeout=30) as http:
            resp = await http.get(f"/address/{address}/utxo")
            resp.raise_for_status()
            return resp.json()


def fresh_bech32_address(network: str) -> str:
    """A new P2WPKH address (BIP 173) on ``network`` whose key nobody keeps."""
    key = ec.PrivateKey(os.urandom(32))
    names = {"mainnet": "main", "testnet": "test", "signet": "signet", "regtest": "regtest"}
    return p2wpkh(key.get_public_key()).address(NETWORKS[names[network]])


async def until(
    check: Callable[[], Awaitable[Any]], *, timeout_seconds: float, what: str, interval: float = 0.5,
    meanwhile: Callable[[], Awaitable[Any]] | None = None,
) -> Any:
    """Await ``check()`` until it returns something truthy (running ``meanwhile`` between tries)."""
    deadline = time.monotonic() + timeout_seconds
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise StepFailed(f"timed out after {timeout_seconds:g} s waiting for {what}")
        if meanwhile is not None:
            await meanwhile()
        await asyncio.sleep(interval)
