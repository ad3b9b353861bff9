"""One engine account per Stellar account (migration 0020): iSTSi minted to an address another
user named could never be redeemed by the one who paid the BTC. Registration and profile changes
refuse a taken address with 409 ``stellar_address_taken``, also when two requests race."""

from __future__ import annotations

import asyncio

import httpx
from sqlalchemy import func, select
from stellar_sdk import Keypair

from db.models import User
from tests.fixtures.identity import MakeClient, MakeUser, strong_password, unique_email


async def _register(client: httpx.AsyncClient, stellar: str) -> httpx.Response:
    return await client.post("/api/auth/register",
                             json={"email": unique_email(), "password": strong_password(), "stellar_address": stellar})


async def _holders(sessions, stellar: str) -> int:
    async with sessions() as s:
        return (await s.execute(select(func.count()).select_from(User).where(User.stellar_address == stellar))).scalar_one()


async def test_registering_with_a_taken_stellar_address_is_409(make_client: MakeClient, sessions) -> None:
    client, stellar = await make_client(), Keypair.random().public_key
    assert (await _register(client, stellar)).status_code == 201
    again = await _register(client, stellar)
    assert (again.status_code, again.json()["code"]) == (409, "stellar_address_taken"), again.text
    assert await _holders(sessions, stellar) == 1


async def test_two_registrations_racing_for_one_address_make_one_account(make_client: MakeClient, sessions) -> None:
    stellar = Keypair.random().public_key
    clients = [await make_client() for _ in range(4)]
    answers = await asyncio.gather(*(_register(c, stellar) for c in clients))
    assert sorted(a.status_code for a in answers) == [201, 409, 409, 409]
    assert {a.json()["code"] for a in answers if a.status_code == 409} == {"stellar_address_taken"}
    assert await _holders(sessions, stellar) == 1


async def test_a_profile_cannot_take_another_users_address_but_keeps_its_own(
    api_client: httpx.AsyncClient, make_user: MakeUser, sessions,
) -> None:
    first, second = await make_user(), await make_user()
    stellar = Keypair.random().public_key
    put = lambda account, body: api_client.put("/api/users/profile", headers=account.headers, json=body)  # noqa: E731
    assert (await put(first, {"stellar_address": stellar})).status_code == 200
    assert (await put(first, {"stellar_address": stellar, "first_name": "Ada"})).status_code == 200  # its own
    taken = await put(second, {"stellar_address": stellar})
    assert (taken.status_code, taken.json()["code"]) == (409, "stellar_address_taken"), taken.text
    assert await _holders(sessions, stellar) == 1
    assert (await put(second, {"first_name": "Bob"})).status_code == 200  # the refusal left nothing half-done


async def test_two_profiles_racing_for_one_address_leave_one_holder(
    api_client: httpx.AsyncClient, make_user: MakeUser, sessions,
) -> None:
    accounts = [await make_user() for _ in range(4)]
    stellar = Keypair.random().public_key
    answers = await asyncio.gather(*(
        api_client.put("/api/users/profile", headers=a.headers, json={"stellar_address": stellar}) for a in accounts))
    assert sorted(a.status_code for a in answers) == [200, 409, 409, 409], [a.text for a in answers]
    assert await _holders(sessions, stellar) == 1
