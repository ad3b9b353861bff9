"""``/api/ws`` over a real socket: authentication, ping, and each stage of a deposit pushed live
(from Postgres NOTIFY), never another user's."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from api.app import create_app
from config.settings import Settings
from tests.deposits.conftest import post_deposit
from tests.fixtures.chains import serve_in_thread, stop

pytestmark = pytest.mark.usefixtures("custody_worker", "minting_enabled")


@pytest.fixture(scope="module")
def ws_url(settings: Settings) -> Iterator[str]:
    """The API served by uvicorn on its own loop (own pool, own LISTEN connection)."""
    served = serve_in_thread(create_app(settings), ready_path="/api/system/info")
    yield served.url.replace("http://", "ws://") + "/api/ws"
    stop(served)


async def _next(ws, kind: str, timeout: float = 20.0) -> dict:
    while True:
        message = json.loads(await asyncio.wait_for(ws.recv(), timeout))
        if message["type"] == kind:
            return message


async def test_bad_token_closes_with_policy_violation(ws_url) -> None:
    async with connect(f"{ws_url}?token=not-a-jwt") as ws:
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
    assert closed.value.rcvd.code == 1008


async def test_token_as_first_message_and_ping(ws_url, make_user) -> None:
    user = await make_user()
    async with connect(ws_url) as ws:
        await ws.send(json.dumps({"type": "auth", "token": user.token}))
        assert (await _next(ws, "authenticated"))["user_id"] == str(user.id)
        await ws.send(json.dumps({"type": "ping"}))
        assert await _next(ws, "pong") == {"type": "pong"}


async def test_each_stage_arrives_and_only_to_its_owner(ws_url, api_client, make_depositor, btc, wait_for) -> None:
    owner, stranger = await make_depositor(), await make_depositor()
    async with connect(f"{ws_url}?token={owner.account.token}") as mine, \
            connect(f"{ws_url}?token={stranger.account.token}") as theirs:
        for ws in (mine, theirs):
            await _next(ws, "authenticated")
            await ws.send(json.dumps({"type": "subscribe"}))
            await _next(ws, "subscribed")
        txid, vout = await btc.pay(owner.deposit_address, 28_000)
        op_id = (await post_deposit(api_client, owner, txid, vout, 28_000)).json()["operation_id"]
        await wait_for(op_id, stage="awaiting_confirmations")
        await btc.mine(1)
        stages = []
        while "completed" not in stages:
            update = (await _next(mine, "operation_update"))["operation"]
            if update["id"] == op_id:
                stages.append(update["stage"])
        with pytest.raises(TimeoutError):
            await _next(theirs, "operation_update", timeout=0.5)
    assert stages[:1] == ["received"] or stages[0] == "verifying"
    for stage in ("awaiting_confirmations", "kyc_check", "solvency_check", "minting", "completed"):
        assert stage in stages
