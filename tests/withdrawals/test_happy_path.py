"""Withdrawals through the whole stack (API → Temporal → Postgres, Soroban and Esplora sandboxes),
below and above the approval threshold; the recorded history feeds the replay test."""

from __future__ import annotations

import os

import pytest

from domain.roles import Role
from tests.withdrawals.conftest import recipient_address
from tests.workflow.record_history import save_history

pytestmark = pytest.mark.usefixtures("custody_worker", "system_unpaused")
BELOW, ABOVE = 60_000, 5_000_000


async def _settle(chain, read, op_id: str, confirmations: int) -> None:
    """Mine until the payout reaches the configured depth and the withdrawal completes."""
    await read.wait(op_id, stage="awaiting_payout_confirmations")
    chain.mine(confirmations)
    await read.wait(op_id, status="completed")


async def _assert_paid(chain, read, holder, op_id: str, to: str, amount: int, *, before: dict) -> None:
    payout = await read.payout(op_id)
    assert payout is not None and payout.status == "confirmed"
    txs = chain.txs_to(to)
    assert len(txs) == 1 and txs[0]["txid"] == payout.txid
    outputs = [o for o in txs[0]["vout"] if o.get("scriptpubkey_address") == to]
    # Fee rule: the recipient gets the amount minus the network fee; custody spends exactly the amount.
    assert [o["value"] for o in outputs] == [amount - payout.fee_sats]
    assert txs[0]["fee"] == payout.fee_sats and payout.amount_sats + payout.fee_sats == amount
    c = chain.contracts
    assert await c.token.balance(holder.address) == before["token"] - amount
    assert await c.reserve.get_total_reserves() == before["reserves"] - amount
    assert await c.reserve.get_pending_withdrawals() == before["pending"]
    row = await read.balance(holder.account.id)
    assert (row.balance, row.reserved_balance) == (before["balance"] - amount, 0)
    op = await read.operation(op_id)
    assert (op.status, op.stage, op.btc_tx_hash, op.error) == ("completed", "completed", payout.txid, None)
    assert op.stellar_tx_hash is not None
    assert await read.submissions(op_id) == {"withdrawal-burn": "succeeded", "withdrawal-complete": "succeeded"}


async def _before(chain, read, holder) -> dict:
    c = chain.contracts
    row = await read.balance(holder.account.id)
    return {"token": await c.token.balance(holder.address), "reserves": await c.reserve.get_total_reserves(),
            "pending": await c.reserve.get_pending_withdrawals(), "balance": row.balance}


async def test_below_threshold_pays_out_without_approval(api_client, holder, chain, read, settings, temporal_client) -> None:
    h = await holder([BELOW + 40_000])
    before = await _before(chain, read, h)
    to = recipient_address()
    r = await api_client.post("/api/integration/token-withdrawal", headers=h.headers,
                              json={"token_amount": BELOW, "btc_address": to})
    assert r.status_code == 202, r.text
    op_id = r.json()["operation_id"]
    assert r.json()["workflow_id"] == f"withdrawal-{op_id}"
    row = await read.balance(h.account.id)
    assert row.reserved_balance == BELOW  # held in the request's transaction
    await _settle(chain, read, op_id, settings.withdrawals.payout_confirmations)
    await _assert_paid(chain, read, h, op_id, to, BELOW, before=before)
    actions = await read.audit_actions(op_id)
    assert {"withdrawal.requested", "withdrawal.burned", "withdrawal.payout_signed", "withdrawal.payout_broadcast",
            "withdrawal.completed"} <= set(actions)
    late = await api_client.post(f"/api/integration/operations/{op_id}/cancel", headers=h.headers)
    assert late.status_code == 409 and late.json()["code"] == "not_cancellable"
    view = await api_client.get(f"/api/integration/operations/{op_id}", headers=h.headers)
    assert view.json()["status"] == "completed" and view.json()["btc_tx_hash"] is not None
    if os.environ.get("RECORD_HISTORIES"):  # refresh the golden histories for test_replay
        # (withdrawal.json stays: the path before batches, patch "payout-batches")
        await save_history(temporal_client, f"withdrawal-{op_id}", "withdrawal_batched")
        payout = await read.payout(op_id)
        await save_history(temporal_client, f"payout-{payout.payout_id}", "payout")


async def test_above_threshold_waits_for_a_second_operator(api_client, holder, make_user, chain, read, settings) -> None:
    h = await holder([ABOVE + 10_000], role=Role.OPERATOR)  # an operator withdrawing for themselves
    before = await _before(chain, read, h)
    to = recipient_address()
    r = await api_client.post("/api/integration/token-withdrawal", headers=h.headers,
                              json={"token_amount": ABOVE, "btc_address": to,
                                    "token_address": settings.soroban.contracts.istsi_token})
    assert r.status_code == 202, r.text
    op_id = r.json()["operation_id"]
    await read.wait(op_id, stage="awaiting_approval")
    approve = f"/api/admin/operations/{op_id}/approve"
    own = await api_client.post(approve, headers=h.headers, json={"reason": "looks fine to me"})
    assert own.status_code == 403 and own.json()["code"] == "self_approval"
    other = await make_user(Role.OPERATOR)
    no_reason = await api_client.post(approve, headers=other.headers, json={"reason": ""})
    assert no_reason.status_code == 422
    user = await make_user(Role.USER)
    assert (await api_client.post(approve, headers=user.headers, json={"reason": "nope"})).status_code == 403
    ok = await api_client.post(approve, headers=other.headers, json={"reason": "verified by phone"})
    assert ok.status_code == 202, ok.text
    again = await api_client.post(f"/api/admin/operations/{op_id}/reject", headers=other.headers,
                                  json={"reason": "changed my mind"})
    assert again.status_code == 409 and again.json()["code"] == "not_awaiting_approval"
    await _settle(chain, read, op_id, settings.withdrawals.payout_confirmations)
    await _assert_paid(chain, read, h, op_id, to, ABOVE, before=before)
    assert "withdrawal.approved" in await read.audit_actions(op_id)
