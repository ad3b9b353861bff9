"""Issue 17, multisig custody: with a 2-of-3 ``wsh(sortedmulti)`` descriptor and no key in the
engine, a deposit to a P2WSH address is credited, and a withdrawal is paid once two external
signers (BDK wallets, each holding one key) returned their signatures through the admin API; one
signature alone is never broadcast; a duplicate, a second key by the same operator and a foreign
signature are refused; a withdrawal cancelled before its batch is signed leaves the batch, and
the others are paid in a new one."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy import select

from cli.ledger import run_check
from db.models import AuditLog, PayoutSignature
from domain.roles import Role
from tests.books.test_books_acceptance import foreign_address
from tests.fixtures.stack import Person, Stack, eventually
from tests.payouts.cosigners import cosigner, with_foreign_signature

pytestmark = pytest.mark.slow


async def _payout_of(stack: Stack, operator, op_id: str) -> dict:
    async def built():
        r = await stack.api.get(f"/api/admin/operations/{op_id}/payout", headers=operator.headers)
        return r.json() if r.status_code == 200 else None

    view = await eventually(built, what=lambda: f"a payout for {op_id}")
    detail = await stack.api.get(f"/api/admin/payouts/{view['payout_id']}", headers=operator.headers)
    assert detail.status_code == 200, detail.text
    return detail.json()


@dataclass
class AwaitingSigners:
    """A withdrawal of ``owner``'s whose batch waits for its signers (``payout``: the admin view)."""

    owner: Person
    operators: list[Person]
    to: str
    op_id: str
    payout: dict


async def withdrawal_awaiting_signers(stack: Stack, *, deposit: int, amount: int, operators: int) -> AwaitingSigners:
    """A funded user withdraws ``amount`` sats to a foreign address; returns once it is signing."""
    owner = await stack.person()
    ops = [await stack.person(tier=None, role=Role.OPERATOR) for _ in range(operators)]
    await stack.deposit(owner, deposit)
    await stack.approve_router(owner, amount)
    to = foreign_address()
    response = await stack.withdraw(owner, amount, to)
    assert response.status_code == 202, response.text
    op_id = response.json()["operation_id"]
    await stack.wait(op_id, stage="signing")
    return AwaitingSigners(owner, ops, to, op_id, await _payout_of(stack, ops[0], op_id))


async def _sign(stack: Stack, operator, payout_id: str, psbt: str) -> httpx.Response:
    return await stack.api.post(f"/api/admin/payouts/{payout_id}/signatures", headers=operator.headers,
                                json={"psbt": psbt})


async def _on_chain(stack: Stack, txid: str) -> bool:
    async with httpx.AsyncClient(base_url=stack.esplora_url) as http:
        return (await http.get(f"/tx/{txid}")).status_code == 200


async def test_two_of_three_journey_deposit_then_two_external_signers_pay_the_withdrawal(multisig_stack: Stack) -> None:
    stack = multisig_stack
    w = await withdrawal_awaiting_signers(stack, deposit=400_000, amount=150_000, operators=3)
    alice, ops, to, op_id, payout = w.owner, w.operators, w.to, w.op_id, w.payout
    assert alice.deposit_address is not None
    assert alice.deposit_address.startswith("bcrt1q") and len(alice.deposit_address) == 64  # P2WSH
    (first,) = payout["versions"]
    assert first["status"] == "awaiting_signature" and first["signatures_required"] == 2 and first["signatures"] == []

    # Only authenticated operators sign.
    a = cosigner(0).sign(first["psbt"])
    assert (await _sign(stack, alice, payout["payout_id"], a)).status_code == 403
    anonymous = await stack.api.post(f"/api/admin/payouts/{payout['payout_id']}/signatures", json={"psbt": a})
    assert anonymous.status_code == 401
    # The first cosigner signs: stored, audited, not broadcast.
    r = await _sign(stack, ops[0], payout["payout_id"], a)
    assert r.status_code == 202, r.text
    assert (r.json()["signed_keys"], r.json()["required"], r.json()["status"]) == (1, 2, "awaiting_signature")
    assert not await _on_chain(stack, first["txid"])  # one signature alone is never broadcast

    # Refusals: the same signatures again, a second key from the same operator, a foreign key.
    again = await _sign(stack, ops[1], payout["payout_id"], a)
    assert again.status_code == 409 and again.json()["code"] == "duplicate_signature", again.text
    current = (await stack.api.get(f"/api/admin/payouts/{payout['payout_id']}", headers=ops[0].headers)).json()
    psbt = current["versions"][0]["psbt"]
    same_operator = await _sign(stack, ops[0], payout["payout_id"], cosigner(2).sign(psbt))
    assert same_operator.status_code == 409 and same_operator.json()["code"] == "signer_already_signed"
    foreign = await _sign(stack, ops[1], payout["payout_id"], with_foreign_signature(psbt))
    assert foreign.status_code == 422 and foreign.json()["reason"] == "foreign_signature", foreign.text
    assert not await _on_chain(stack, first["txid"])
    await stack.assert_quiet("a payout waiting for its second signature")

    # The second cosigner (another operator) completes the quorum: finalized, stored, broadcast.
    done = await _sign(stack, ops[1], payout["payout_id"], cosigner(2).sign(psbt))
    assert done.status_code == 202 and done.json()["status"] == "signed", done.text
    await stack.wait(op_id, stage="awaiting_payout_confirmations")
    assert await _on_chain(stack, first["txid"])
    await stack.mine(stack.settings.withdrawals.payout_confirmations)
    op = await stack.wait(op_id, status="completed")
    assert op.btc_tx_hash == first["txid"]

    async with httpx.AsyncClient(base_url=stack.esplora_url) as http:
        tx = (await http.get(f"/tx/{first['txid']}")).json()
    assert tx["vin"][0]["inner_witnessscript_asm"].endswith("OP_PUSHNUM_3 OP_CHECKMULTISIG")
    paid = [o["value"] for o in tx["vout"] if o.get("scriptpubkey_address") == to]
    share = payout["items"][0]["fee_share_sats"]
    assert paid == [150_000 - share] and tx["fee"] == share
    async with stack.sessions() as session:
        rows = (await session.execute(select(PayoutSignature))).scalars().all()
        audits = (await session.execute(select(AuditLog).where(AuditLog.action == "payout.signature_added"))).scalars().all()
    assert sorted((r.key_index, r.user_id) for r in rows) == sorted([(0, ops[0].id), (2, ops[1].id)])
    assert {a.user_id for a in audits} == {ops[0].id, ops[1].id}
    await stack.assert_quiet("after the multisig payout")
    report = await run_check(stack.settings)
    assert report.ok, report.problems


async def test_a_withdrawal_cancelled_before_its_batch_is_signed_leaves_it_cleanly(multisig_stack: Stack) -> None:
    stack = multisig_stack
    bob, carol = await stack.person(), await stack.person()
    operators = [await stack.person(tier=None, role=Role.OPERATOR) for _ in range(2)]
    for p in (bob, carol):
        await stack.deposit(p, 200_000)
        await stack.approve_router(p, 100_000)
    to_bob, to_carol = foreign_address(), foreign_address()
    bob_op = (await stack.withdraw(bob, 100_000, to_bob)).json()["operation_id"]
    carol_op = (await stack.withdraw(carol, 100_000, to_carol)).json()["operation_id"]
    await stack.wait(bob_op, stage="signing")
    await stack.wait(carol_op, stage="signing")
    batch = await _payout_of(stack, operators[0], bob_op)
    assert {i["operation_id"] for i in batch["items"]} == {bob_op, carol_op}  # one batch of two
    early = await stack.api.post(f"/api/admin/payouts/{batch['payout_id']}/bump", headers=operators[0].headers,
                                 json={"reason": "nothing to bump yet"})
    assert early.status_code == 409 and early.json()["code"] == "payout_not_broadcast", early.text
    r = await _sign(stack, operators[0], batch["payout_id"], cosigner(1).sign(batch["versions"][0]["psbt"]))
    assert r.status_code == 202, r.text

    cancel = await stack.api.post(f"/api/integration/operations/{bob_op}/cancel", headers=bob.headers,
                                  json={"reason": "changed my mind"})
    assert cancel.status_code == 202, cancel.text
    bob_done = await stack.wait(bob_op, status="cancelled")
    assert bob_done.error == "cancelled_by_user"
    old = (await stack.api.get(f"/api/admin/payouts/{batch['payout_id']}", headers=operators[0].headers)).json()
    assert old["status"] == "abandoned" and old["versions"][0]["status"] == "abandoned"
    # Carol's withdrawal joins a new batch of its own; the old PSBT (and its signature) is void.
    new = await _payout_of(stack, operators[0], carol_op)
    assert new["payout_id"] != batch["payout_id"] and [i["operation_id"] for i in new["items"]] == [carol_op]
    late = await _sign(stack, operators[1], batch["payout_id"], cosigner(0).sign(batch["versions"][0]["psbt"]))
    assert late.status_code == 409, late.text
    psbt = new["versions"][0]["psbt"]
    for signer, operator in ((0, operators[0]), (2, operators[1])):
        r = await _sign(stack, operator, new["payout_id"], cosigner(signer).sign(psbt))
        assert r.status_code == 202, r.text
        psbt = (await stack.api.get(f"/api/admin/payouts/{new['payout_id']}", headers=operator.headers)).json()[
            "versions"][0]["psbt"] or psbt
    await stack.wait(carol_op, stage="awaiting_payout_confirmations")
    await stack.mine(stack.settings.withdrawals.payout_confirmations)
    await stack.wait(carol_op, status="completed")

    async with httpx.AsyncClient(base_url=stack.esplora_url) as http:
        assert (await http.get(f"/address/{to_bob}/txs")).json() == []  # Bob was never paid
        assert len((await http.get(f"/address/{to_carol}/txs")).json()) == 1
    assert (await stack.api.get("/api/tokens/balances", headers=bob.headers)).json()["balances"][0]["balance"] == 200_000
    await stack.assert_quiet("after a cancelled batch and its successor")
    report = await run_check(stack.settings)
    assert report.ok, report.problems
    assert uuid.UUID(new["payout_id"])


async def test_a_stuck_multisig_payout_is_replaced_once_two_signers_sign_the_replacement(multisig_stack: Stack) -> None:
    """No key in the engine: a bump is a new version waiting for the quorum, while the stuck one
    stays in the mempool; once signed it replaces it. The user's operation shows its fee share."""
    from tests.payouts.test_fee_bumps import SANDBOX_ESTIMATES, _estimates, _post

    stack = multisig_stack
    operators = [await stack.person(tier=None, role=Role.OPERATOR) for _ in range(2)]
    await stack.scan()
    async with stack.sessions() as session:
        from db.models import CustodyAddress

        spare = (await session.execute(select(CustodyAddress).where(CustodyAddress.branch == 1).order_by(
            CustodyAddress.derivation_index.desc()).limit(1))).scalar_one()
    txid, vout = await stack.pay(spare.address, 50_000)
    await stack.mine(1)
    await stack.scan()
    funded = await stack.api.post("/api/admin/fee-reserve/fundings", headers=operators[0].headers,
                                  json={"outpoint": f"{txid}:{vout}", "reason": "fee float"})
    assert funded.status_code == 201, funded.text
    dave = await stack.person()
    await stack.deposit(dave, 300_000)
    await stack.approve_router(dave, 100_000)
    await _estimates(stack, 1)
    await _post(stack, "/sandbox/mining-policy", {"min_fee_rate_sat_vb": 1.5})
    try:
        op_id = (await stack.withdraw(dave, 100_000, foreign_address())).json()["operation_id"]
        await stack.wait(op_id, stage="signing")
        payout = await _payout_of(stack, operators[0], op_id)
        pid = payout["payout_id"]
        psbt = payout["versions"][0]["psbt"]
        for i, op in ((0, operators[0]), (1, operators[1])):
            assert (await _sign(stack, op, pid, cosigner(i).sign(psbt))).status_code == 202
            psbt = (await stack.api.get(f"/api/admin/payouts/{pid}", headers=op.headers)).json()["versions"][0]["psbt"] \
                or psbt
        await stack.wait(op_id, stage="awaiting_payout_confirmations")
        shown = (await stack.api.get(f"/api/integration/operations/{op_id}", headers=dave.headers)).json()["payout"]
        assert shown["fee_share_sats"] == payout["items"][0]["fee_share_sats"] and shown["fee_rate_sat_vb"] == 1
        assert shown["recipient_sats"] == 100_000 - shown["fee_share_sats"] and shown["batch_outputs"] == 1
        await _estimates(stack, 6)
        bump = await stack.api.post(f"/api/admin/payouts/{pid}/bump", headers=operators[1].headers,
                                    json={"reason": "stuck at 1 sat/vB"})
        assert bump.status_code == 202, bump.text

        async def awaiting():
            d = (await stack.api.get(f"/api/admin/payouts/{pid}", headers=operators[0].headers)).json()
            return d if len(d["versions"]) == 2 else None

        detail = await eventually(awaiting, what=lambda: "a replacement waits for signatures")
        replacement = detail["versions"][1]
        assert replacement["status"] == "awaiting_signature" and replacement["kind"] == "rbf"
        assert await _on_chain(stack, payout["versions"][0]["txid"])  # the stuck one stays meanwhile
        psbt = replacement["psbt"]
        for i, op in ((2, operators[0]), (1, operators[1])):
            r = await _sign(stack, op, pid, cosigner(i).sign(psbt))
            assert r.status_code == 202 and r.json()["version"] == 1, r.text
            psbt = (await stack.api.get(f"/api/admin/payouts/{pid}", headers=op.headers)).json()["versions"][1]["psbt"] \
                or psbt

        async def replaced():
            return await _on_chain(stack, replacement["txid"]) and not await _on_chain(stack, payout["versions"][0]["txid"])

        await eventually(replaced, what=lambda: "the replacement replaces the stuck payout")
        await stack.mine(stack.settings.withdrawals.payout_confirmations)
        op = await stack.wait(op_id, status="completed")
        assert op.btc_tx_hash == replacement["txid"]
    finally:
        await _post(stack, "/sandbox/fee-estimates", SANDBOX_ESTIMATES)
        await _post(stack, "/sandbox/mining-policy", {"min_fee_rate_sat_vb": 0, "hold_txids": []})
    await stack.assert_quiet("after the multisig replacement")
    report = await run_check(stack.settings)
    assert report.ok, report.problems
