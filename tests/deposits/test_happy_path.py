"""A deposit through the whole stack: API, Temporal, worker, Postgres and both sandboxes."""

from __future__ import annotations

import pytest

from tests.deposits.conftest import post_deposit

pytestmark = pytest.mark.usefixtures("custody_worker", "minting_enabled")


async def test_faucet_post_mine_completes_and_balances_agree(
    api_client, make_depositor, btc, wait_for, worker_deps, sessions
) -> None:
    depositor = await make_depositor()
    txid, vout = await btc.pay(depositor.deposit_address, 50_000)

    response = await post_deposit(api_client, depositor, txid, vout, 50_000)
    assert response.status_code == 202, response.text
    accepted = response.json()
    assert accepted["workflow_id"] == f"deposit-{txid}:{vout}"

    await wait_for(accepted["operation_id"], stage="awaiting_confirmations")
    await btc.mine(1)
    op = await wait_for(accepted["operation_id"], status="completed")
    assert op.stellar_tx_hash and op.confirmations == 1 and op.required_confirmations == 1

    assert await worker_deps.contracts.token.balance(depositor.stellar_address) == 50_000
    shown = (await api_client.get(f"/api/integration/operations/{op.id}", headers=depositor.headers)).json()
    assert (shown["status"], shown["stage"], shown["amount_sats"]) == ("completed", "completed", 50_000)
    assert [s["stage"] for s in shown["stages"]] == [
        "received", "verifying", "awaiting_confirmations", "kyc_check", "solvency_check", "minting", "completed",
    ]
    balances = (await api_client.get("/api/tokens/balances", headers=depositor.headers)).json()
    assert [b["balance"] for b in balances["balances"]] == [50_000]
    live = (await api_client.get("/api/tokens/balances?source=chain", headers=depositor.headers)).json()
    assert live["balances"][0]["balance"] == 50_000
    history = (await api_client.get("/api/tokens/history", headers=depositor.headers)).json()
    assert [(h["operation_id"], h["amount"]) for h in history["items"]] == [(str(op.id), 50_000)]
