"""The deposit, operation, token and system-info endpoints: auth, validation, ownership, errors."""

from __future__ import annotations

import pytest

from db.queries import system_state
from domain.pause import PauseState
from tests.deposits.conftest import post_deposit

pytestmark = pytest.mark.usefixtures("custody_worker", "minting_enabled")
TXID = "ab" * 32


class TestSystemInfo:
    async def test_anonymous_gets_networks_contracts_and_depths(self, api_client, settings) -> None:
        body = (await api_client.get("/api/system/info")).json()
        assert body["bitcoin_network"] == "regtest" and body["stellar_network"] == "standalone"
        assert body["contracts"]["istsi_token"] == settings.soroban.contracts.istsi_token
        assert (body["min_confirmations"], body["minimum_deposit_sats"]) == (1, settings.deposits.minimum_sats)


class TestDepositAddress:
    async def test_anonymous(self, api_client) -> None:
        assert (await api_client.get("/api/integration/deposit-address")).status_code == 401

    async def test_same_address_every_time_and_one_per_user(self, api_client, make_user) -> None:
        a, b = await make_user(), await make_user()
        first = (await api_client.get("/api/integration/deposit-address", headers=a.headers)).json()
        again = (await api_client.get("/api/integration/deposit-address", headers=a.headers)).json()
        other = (await api_client.get("/api/integration/deposit-address", headers=b.headers)).json()
        assert first == again and first["address"].startswith("bcrt1q") and other["address"] != first["address"]


class TestBitcoinDeposit:
    async def test_anonymous(self, api_client) -> None:
        response = await api_client.post("/api/integration/bitcoin-deposit", json={"btc_amount": 1, "btc_tx_hash": TXID})
        assert response.status_code == 401

    @pytest.mark.parametrize("body", [
        {"btc_amount": 0, "btc_tx_hash": TXID},
        {"btc_amount": 5000, "btc_tx_hash": "xyz"},
        {"btc_amount": 5000, "btc_tx_hash": TXID, "vout": -1},
        {"btc_amount": 5000, "btc_tx_hash": TXID, "stellar_address": "GNOTAKEY"},
        {"btc_amount": 5000, "btc_tx_hash": TXID, "unknown": 1},
    ])
    async def test_invalid_input(self, api_client, make_depositor, body) -> None:
        depositor = await make_depositor()
        response = await api_client.post("/api/integration/bitcoin-deposit", json=body, headers=depositor.headers)
        assert response.status_code == 422

    async def test_below_minimum(self, api_client, make_depositor, settings) -> None:
        depositor = await make_depositor()
        response = await post_deposit(api_client, depositor, TXID, 0, settings.deposits.minimum_sats - 1)
        assert (response.status_code, response.json()["code"]) == (422, "below_minimum")

    async def test_stellar_address_must_be_the_profiles(self, api_client, make_depositor) -> None:
        depositor, other = await make_depositor(), await make_depositor()
        response = await post_deposit(api_client, depositor, TXID, 7, 5000, stellar_address=other.stellar_address)
        assert (response.status_code, response.json()["code"]) == (422, "stellar_address_mismatch")

    async def test_paused(self, api_client, make_depositor, sessions) -> None:
        depositor = await make_depositor()
        async with sessions() as session, session.begin():
            await system_state.set_pause(session, state=PauseState(minting=True, reason="test"), actor_id=None)
        try:
            response = await post_deposit(api_client, depositor, "cd" * 32, 0, 5000)
        finally:
            async with sessions() as session, session.begin():
                await system_state.set_pause(session, state=PauseState(), actor_id=None)
        assert (response.status_code, response.json()["code"]) == (503, "system_paused")

    async def test_idempotency_key_reused_for_another_outpoint(self, api_client, make_depositor, btc) -> None:
        depositor = await make_depositor()
        (t1, v1), (t2, v2) = await btc.pay(depositor.deposit_address, 5000), await btc.pay(depositor.deposit_address, 6000)
        key = {"Idempotency-Key": "client-key-1"}
        first = await api_client.post("/api/integration/bitcoin-deposit", json={"btc_amount": 5000, "btc_tx_hash": t1, "vout": v1},
                                      headers={**depositor.headers, **key})
        second = await api_client.post("/api/integration/bitcoin-deposit", json={"btc_amount": 6000, "btc_tx_hash": t2, "vout": v2},
                                       headers={**depositor.headers, **key})
        assert first.status_code == 202
        assert (second.status_code, second.json()["code"]) == (409, "idempotency_key_reused")


class TestOperations:
    async def test_anonymous(self, api_client) -> None:
        assert (await api_client.get("/api/integration/operations")).status_code == 401

    async def test_not_yours_is_404(self, api_client, make_depositor, btc) -> None:
        owner, other = await make_depositor(), await make_depositor()
        txid, vout = await btc.pay(owner.deposit_address, 5000)
        op_id = (await post_deposit(api_client, owner, txid, vout, 5000)).json()["operation_id"]
        mine = await api_client.get(f"/api/integration/operations/{op_id}", headers=owner.headers)
        theirs = await api_client.get(f"/api/integration/operations/{op_id}", headers=other.headers)
        assert (mine.status_code, theirs.status_code) == (200, 404)
        assert theirs.json()["code"] == "operation_not_found"
        listed = (await api_client.get("/api/integration/operations", headers=other.headers)).json()
        assert listed["items"] == []

    async def test_newest_first_paged_and_filtered(self, api_client, make_depositor, btc) -> None:
        depositor = await make_depositor()
        ids = []
        for amount in (5000, 5001, 5002):
            txid, vout = await btc.pay(depositor.deposit_address, amount)
            ids.append((await post_deposit(api_client, depositor, txid, vout, amount)).json()["operation_id"])
        page1 = (await api_client.get("/api/integration/operations?limit=2", headers=depositor.headers)).json()
        page2 = (await api_client.get(f"/api/integration/operations?limit=2&cursor={page1['next_cursor']}",
                                      headers=depositor.headers)).json()
        assert [i["id"] for i in page1["items"] + page2["items"]] == ids[::-1]
        assert page2["next_cursor"] is None
        none = (await api_client.get("/api/integration/operations?type=withdrawal", headers=depositor.headers)).json()
        assert none["items"] == []
        bad = await api_client.get("/api/integration/operations?status=lost", headers=depositor.headers)
        assert bad.status_code == 422


class TestTokens:
    async def test_anonymous(self, api_client) -> None:
        assert (await api_client.get("/api/tokens/balances")).status_code == 401
        assert (await api_client.get("/api/tokens/history")).status_code == 401

    async def test_new_user_has_no_balance_on_chain_or_in_the_projection(self, api_client, make_depositor) -> None:
        depositor = await make_depositor()
        projected = (await api_client.get("/api/tokens/balances", headers=depositor.headers)).json()
        live = (await api_client.get("/api/tokens/balances?source=chain", headers=depositor.headers)).json()
        assert projected["balances"] == [] and live["balances"][0]["balance"] == 0
