"""The books issue's acceptance, through the whole stack (API → Temporal → Postgres and both
sandboxes) on a stack of its own (:mod:`tests.fixtures.stack`): reconciliation is quiet at every stage
of money in flight, change comes back and later deposits complete, a reorg after the mint holds
the credit, small receipts add up, a stray payment is an explained surplus, and injected
shortfalls pause."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from embit import bip32, script
from embit.networks import NETWORKS
from sqlalchemy import select

from db import ledger
from db.models import CustodyUtxo
from db.queries.payouts import withdrawal_payout
from domain import entries as e
from tests.fixtures.stack import Stack, eventually

pytestmark = pytest.mark.slow


def foreign_address() -> str:
    """An address of a wallet that is not custody's (a withdrawal's destination)."""
    key = bip32.HDKey.from_seed(uuid.uuid4().bytes * 2)
    return script.p2wpkh(key.derive("m/84h/1h/0h/0/0").key).address(NETWORKS["regtest"])


async def balance(stack: Stack, person) -> tuple[int, int]:
    r = (await stack.api.get("/api/tokens/balances", headers=person.headers)).json()["balances"][0]
    return r["balance"], r["reserved_balance"]


async def test_quiet_at_every_stage_and_deposits_complete_after_a_payout_with_change(stack: Stack) -> None:
    alice, bob = await stack.person(), await stack.person(tier=None)  # Bob has not done KYC yet
    await stack.assert_quiet("empty books")

    # Alice's deposit, waiting for its depth
    txid, vout = await stack.pay(alice.deposit_address, 400_000)
    posted = await stack.api.post("/api/integration/bitcoin-deposit", headers=alice.headers,
                                  json={"btc_amount": 400_000, "btc_tx_hash": txid, "vout": vout})
    assert posted.status_code == 202, posted.text
    dep = posted.json()["operation_id"]
    await stack.wait(dep, stage="awaiting_confirmations")
    await stack.assert_quiet("deposit seen, waiting for depth")
    await stack.mine(1)
    await stack.wait(dep, status="completed")

    # Bob sends BTC before his KYC: detection finds it, the deposit waits for him
    await stack.pay(bob.deposit_address, 150_000)
    await stack.mine(1)
    await stack.scan()
    report = await stack.assert_quiet("deposit waiting for its owner's KYC")
    assert any(i.kind == "deposit_in_flight" for i in await stack.items(report.run_id)) or any(
        i.kind == "pending_receipt" for i in await stack.items(report.run_id))

    # Alice withdraws part: the payout returns change to custody
    await stack.approve_router(alice, 250_000)
    response = await stack.withdraw(alice, 250_000, foreign_address())
    assert response.status_code == 202, response.text
    wd = response.json()["operation_id"]
    await stack.wait(wd, stage="awaiting_payout_confirmations")
    report = await stack.assert_quiet("payout broadcast")
    assert {i.kind for i in await stack.items(report.run_id)} >= {"payout_in_flight"}
    await stack.mine(stack.settings.withdrawals.payout_confirmations)
    await stack.wait(wd, status="completed")
    async with stack.sessions() as session:
        payout = await withdrawal_payout(session, operation_id=uuid.UUID(wd))
        change = (await session.execute(select(CustodyUtxo).where(CustodyUtxo.change_of == payout.payout_id))).scalar_one()
    assert payout.change_sats > 0 and (change.state, change.value_sats) == ("confirmed", payout.change_sats)
    await stack.assert_quiet("after a payout that returned change")

    # More deposits after the change: the guard counts it, they complete
    carol = await stack.person()
    await stack.deposit(carol, 90_000)
    await stack.deposit(alice, 60_000)
    await stack.assert_quiet("deposits after the change")
    assert await balance(stack, alice) == (400_000 - 250_000 + 60_000, 0)


async def test_a_withdrawal_to_the_custody_wallet_itself_is_refused(stack: Stack) -> None:
    alice = await stack.person()
    await stack.deposit(alice, 100_000)
    await stack.approve_router(alice, 100_000)
    other = await stack.person()
    for address in (alice.deposit_address, other.deposit_address):
        response = await stack.withdraw(alice, 50_000, address)
        assert response.status_code == 422 and response.json()["code"] == "custody_address", response.text
    assert await balance(stack, alice) == (100_000, 0)


@pytest.mark.parametrize("depth", [1, 2])
async def test_a_deposit_reorged_after_its_mint_cannot_be_redeemed_until_it_confirms_again(stack: Stack, depth: int) -> None:
    honest, alice = await stack.person(), await stack.person()
    await stack.deposit(honest, 300_000)  # other users' BTC the reorged tokens must never be paid with
    txid, vout = await stack.pay(alice.deposit_address, 200_000)
    raw = await stack.tx_hex(txid)
    response = await stack.api.post("/api/integration/bitcoin-deposit", headers=alice.headers,
                                    json={"btc_amount": 200_000, "btc_tx_hash": txid, "vout": vout})
    dep = response.json()["operation_id"]
    await stack.wait(dep, stage="awaiting_confirmations")
    await stack.mine(depth)
    await stack.wait(dep, status="completed")
    await stack.scan()
    await stack.approve_router(alice, 200_000)

    await stack.reorg(depth, drop_txids=[txid])  # the deposit's block is gone and its tx with it
    await stack.scan()
    op = await stack.wait(dep, stage="reorg_hold")
    assert (op.status, op.error) == ("completed", "reorged_after_mint")
    assert await balance(stack, alice) == (200_000, 200_000)  # held: nothing available
    refused = await stack.withdraw(alice, 100_000, foreign_address())
    assert refused.status_code == 409 and refused.json()["code"] == "insufficient_balance", refused.text
    await stack.assert_quiet("credit held after the reorg: an explained shortfall")

    await stack.broadcast(raw)  # the same transaction comes back and confirms again
    await stack.mine(1)
    await stack.scan()
    op = await stack.wait(dep, stage="completed")
    assert op.error is None and await balance(stack, alice) == (200_000, 0)
    assert (await stack.withdraw(alice, 100_000, foreign_address())).status_code == 202
    await stack.assert_quiet("after the deposit confirmed again")


async def test_small_receipts_are_credited_once_they_add_up(stack: Stack) -> None:
    alice = await stack.person()
    minimum = stack.settings.deposits.minimum_sats
    first = await stack.pay(alice.deposit_address, minimum // 2 + 100)
    await stack.mine(1)
    await stack.scan()
    shown = (await stack.api.get("/api/integration/deposit-address", headers=alice.headers)).json()
    assert [r["outpoint"] for r in shown["pending_receipts"]] == [f"{first[0]}:{first[1]}"]
    await stack.assert_quiet("one small receipt")
    second = await stack.pay(alice.deposit_address, minimum // 2)
    await stack.mine(1)
    await stack.scan()

    async def the_deposit():
        ops = (await stack.api.get("/api/integration/operations", headers=alice.headers)).json()["items"]
        return ops if ops and ops[0]["status"] == "completed" else None

    ops = await eventually(the_deposit, what=lambda: "the combined deposit completes")
    assert len(ops) == 1 and ops[0]["amount_sats"] == minimum + 100
    assert sorted(ops[0]["outpoints"]) == sorted(f"{t}:{v}" for t, v in (first, second))
    assert await balance(stack, alice) == (minimum + 100, 0)
    await stack.scan()  # scanning again credits nothing twice
    assert len((await stack.api.get("/api/integration/operations", headers=alice.headers)).json()["items"]) == 1
    shown = (await stack.api.get("/api/integration/deposit-address", headers=alice.headers)).json()
    assert shown["pending_receipts"] == []
    await stack.assert_quiet("small receipts credited")


async def test_a_stray_payment_is_an_explained_surplus(stack: Stack) -> None:
    await stack.scan()  # the look-ahead window is watched
    async with stack.sessions() as session:
        from db.models import CustodyAddress

        spare = (await session.execute(select(CustodyAddress).where(
            CustodyAddress.user_id.is_(None), CustodyAddress.branch == 0).limit(1))).scalar_one()
    txid, vout = await stack.pay(spare.address, 33_000)
    await stack.mine(1)
    await stack.scan()
    async with stack.sessions() as session:
        row = await session.get(CustodyUtxo, f"{txid}:{vout}")
    assert row is not None and row.held_in == e.UNATTRIBUTED
    report = await stack.assert_quiet("a payment nobody claims")
    assert any(i.kind == "unattributed_receipt" and i.reference == f"{txid}:{vout}" for i in await stack.items(report.run_id))


async def test_injected_shortfalls_are_emergencies_and_pause(stack: Stack) -> None:
    alice = await stack.person()
    await stack.deposit(alice, 500_000)
    await stack.scan()
    await stack.assert_quiet("before the injections")

    # 1. a custody output spent outside the engine (the key leaked)
    async with stack.sessions() as session:
        row = (await session.execute(select(CustodyUtxo).where(
            CustodyUtxo.state == "confirmed", CustodyUtxo.value_sats == 500_000))).scalars().first()
    assert row is not None
    await stack.broadcast(await _steal(stack, row))
    await stack.mine(1)
    try:
        report = await stack.reconcile()
        found = await stack.findings(report.run_id)
        checks = {f.check_name: f.severity for f in found}
        assert report.paused and checks.get("utxo_set_vs_books") == "emergency", [
            (f.check_name, f.expected_sats, f.actual_sats, f.severity) for f in found]
    finally:
        await stack.unpause()
    # The operators book the loss into suspense and recapitalise custody (a payment they then
    # assign from unattributed receipts to suspense): the books are whole again.
    token = stack.settings.soroban.contracts.istsi_token
    async with stack.sessions() as session, session.begin():
        await ledger.post(session, [e.Transfer("correction:theft", e.SUSPENSE_BTC, e.CUSTODY, 500_000, e.BTC,
                                               "correction")], token_address=token)
        from db.models import CustodyAddress

        spare = (await session.execute(select(CustodyAddress).where(
            CustodyAddress.user_id.is_(None), CustodyAddress.branch == 0).limit(1))).scalar_one()
    await stack.pay(spare.address, 500_000)
    await stack.mine(1)
    await stack.scan()
    async with stack.sessions() as session, session.begin():
        await ledger.post(session, [e.Transfer("correction:recapitalised", e.UNATTRIBUTED, e.SUSPENSE_BTC, 500_000,
                                               e.BTC, "correction")], token_address=token)
    await stack.assert_quiet("after the correction")
    # 2. iSTSi minted outside the engine
    await stack.deps.contracts.router.execute_bitcoin_deposit(alice.stellar, 150_000, uuid.uuid4().bytes * 2, 0, 6, 1)
    try:
        report = await stack.reconcile()
        checks = {f.check_name: f.severity for f in await stack.findings(report.run_id)}
        assert report.paused and checks.get("supply_vs_books") == "emergency", checks
        assert await stack.deps.contracts.router.is_paused()
    finally:
        await stack.unpause()
        # the holder burns what was minted without backing: the chain agrees with the books again
        await stack.deps.contracts.token.burn(alice.stellar, 150_000, signer=alice.keypair)
    await stack.assert_quiet("after the unbacked tokens were burned")


async def _steal(stack: Stack, row: CustodyUtxo) -> str:
    """A transaction the engine did not make, spending a custody output with the custody key."""
    from chains.bitcoin.payout import build_payout_for_plan
    from chains.bitcoin.setup import payout_signer
    from db.models import CustodyAddress
    from domain.bitcoin_payout import PayoutPlan, SpendableUtxo

    async with stack.sessions() as session:
        address = await session.get(CustodyAddress, row.address)
    utxo = SpendableUtxo(row.txid, row.vout, row.value_sats, address.branch, address.derivation_index)
    plan = PayoutPlan((utxo,), row.value_sats - 500, 500, 0, 5, 110)
    unsigned = build_payout_for_plan(stack.deps.wallet, recipient_address=foreign_address(), plan=plan, change_index=0)
    return payout_signer(stack.settings.bitcoin, stack.deps.wallet).sign(unsigned).tx_hex


async def test_twenty_concurrent_withdrawals_of_the_whole_balance_exactly_one_is_accepted(stack: Stack) -> None:
    alice = await stack.person()
    await stack.deposit(alice, 120_000)
    await stack.approve_router(alice, 120_000)
    to = foreign_address()
    answers = await asyncio.gather(*(stack.withdraw(alice, 120_000, to) for _ in range(20)))
    codes = sorted(r.status_code for r in answers)
    assert codes == [202] + [409] * 19, [r.text for r in answers if r.status_code != 409][:3]
    assert {r.json()["code"] for r in answers if r.status_code == 409} == {"insufficient_balance"}
    assert await balance(stack, alice) == (120_000, 120_000)


async def test_operators_read_the_books_and_the_ledger_check_passes(stack: Stack) -> None:
    from cli.ledger import run_check
    from domain.roles import Role

    alice, operator = await stack.person(), await stack.person(tier=None, role=Role.OPERATOR)
    dep = await stack.deposit(alice, 70_000)
    assert (await stack.api.get("/api/admin/ledger/accounts", headers=alice.headers)).status_code == 403
    accounts = (await stack.api.get("/api/admin/ledger/accounts?code=user_istsi&limit=500",
                                    headers=operator.headers)).json()["items"]
    mine = next(a for a in accounts if a["user_id"] == str(alice.id))
    assert (mine["balance"], mine["ledger"]) == (70_000, "istsi")
    transfers = (await stack.api.get(f"/api/admin/ledger/transfers?operation_id={dep.id}",
                                     headers=operator.headers)).json()["items"]
    assert [(t["code"], t["phase"]) for t in transfers] == [
        ("receipt", "posted"), ("deposit_credit", "pending"), ("deposit_credit", "pending"),
        ("deposit_credit", "post"), ("deposit_credit", "post")]
    history = (await stack.api.get("/api/tokens/history", headers=alice.headers)).json()["items"]
    assert [(h["kind"], h["amount"], h["operation_id"]) for h in history] == [("deposit_credit", 70_000, str(dep.id))]
    report = await run_check(stack.settings)
    assert report.ok, report.problems
    assert "the UTXO set equals the chain" in report.checked and "token_balances equals the books" in report.checked
