"""``GET /api/tokens/balances?source=chain`` for an account that does not exist on the network yet
answers what to do (fund it), not "try again" (issue 14)."""

from __future__ import annotations

import httpx
from sqlalchemy import update
from stellar_sdk import Keypair

from db.models import User


async def test_an_unfunded_stellar_account_is_told_to_fund_it(api_client, make_user, sessions, soroban_sandbox) -> None:
    account = await make_user()
    address = Keypair.random().public_key
    async with sessions() as session, session.begin():
        await session.execute(update(User).where(User.id == account.id).values(stellar_address=address))

    r = await api_client.get("/api/tokens/balances", params={"source": "chain"}, headers=account.headers)

    assert r.status_code == 409, r.text
    assert r.json()["code"] == "stellar_account_not_found"
    assert f"/friendbot?addr={address}" in r.json()["detail"]
    async with httpx.AsyncClient() as http:  # doing what it says works
        (await http.get(f"{soroban_sandbox.url}/friendbot", params={"addr": address})).raise_for_status()
    r = await api_client.get("/api/tokens/balances", params={"source": "chain"}, headers=account.headers)
    assert r.status_code == 200 and r.json()["balances"][0]["balance"] == 0
