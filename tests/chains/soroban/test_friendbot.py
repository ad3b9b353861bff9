"""The sandbox friendbot funds real account strkeys only, as the public friendbot does."""

from __future__ import annotations

import httpx
import pytest
from stellar_sdk import Keypair


@pytest.mark.parametrize("addr", ["", "NOTAKEY", Keypair.random().secret, "C" + "A" * 55])
def test_friendbot_refuses_what_is_not_an_account(sandbox, addr: str) -> None:
    resp = httpx.get(f"{sandbox.url}/friendbot", params={"addr": addr})
    assert resp.status_code == 400 and "invalid address" in resp.json()["detail"]


def test_friendbot_funds_an_account_once(sandbox) -> None:
    addr = Keypair.random().public_key
    assert httpx.get(f"{sandbox.url}/friendbot", params={"addr": addr}).json()["successful"] is True
    assert httpx.get(f"{sandbox.url}/friendbot", params={"addr": addr}).status_code == 400
