"""Issue 17, fee bumping: a payout broadcast at 1 sat/vB that the sandbox's miners leave in the
mempool (mining policy ``min_fee_rate_sat_vb``) is replaced at a higher fee after
``bitcoin.fee_bump_after_blocks`` blocks (BIP 125) and confirms; the original never confirms;
the ledger shows one payout per withdrawal and the total fee once (the users' shares, plus the
custodian's extra from the fee reserve). An operator's CPFP bump through the admin API pays for
the stuck parent with a child spending custody's change. Reconciliation stays quiet throughout."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import select

from cli.ledger import run_check
from db import ledger
from db.models import CustodyAddress, CustodyUtxo
from domain import entries as e
from domain.roles import Role
from tests.books.test_books_acceptance import foreign_address
from tests.fixtures.stack import Person, Stack, eventually
from tests.workflow.record_history import save_history

pytestmark = pytest.mark.slow
SANDBOX_ESTIMATES = {"1": 20.0, "2": 15.0, "3": 10.0, "6": 5.0, "12": 3.0, "144": 1.0, "1008": 1.0}


async def _post(stack: Stack, path: str, body: dict) -> dict:
    async with httpx.AsyncClient(base_url=stack.esplora_url) as http:
        response = await http.post(path, json=body)
        response.raise_for_status()
        return response.json()


async def _estimates(stack: Stack, rate: float) -> None:
    await _post(stack, "/sandbox/fee-estimates", dict.fromkeys(SANDBOX_ESTIMATES, rate))


@pytest.fixture
async def stingy_miners(payout_stack: Stack) -> AsyncIterator[None]:
    """Payouts at 1 sat/vB; the miners take nothing below 1.5 sat/vB (per package)."""
    await _estimates(payout_stack, 1)
    await _post(payout_stack, "/sandbox/mining-policy", {"min_fee_rate_sat_vb": 1.5})
    try:
        yield
    finally:
        await _post(payout_stack, "/sandbox/fee-estimates", SANDBOX_ESTIMATES)
        await _post(payout_stack, "/sandbox/mining-policy", {"min_fee_rate_sat_vb": 0, "hold_txids": []})


async def _fund_reserve(stack: Stack, operator, sats: int) -> None:
    """The custodian pays its own BTC to a spare custody address and assigns it to the fee reserve."""
    await stack.scan()
    async with stack.sessions() as session:
        spare = (await session.execute(select(CustodyAddress).where(CustodyAddress.branch == 1).order_by(
            CustodyAddress.derivation_index.desc()).limit(1))).scalar_one()
    txid, vout = await stack.pay(spare.address, sats)
    await stack.mine(1)
    await stack.scan()
    r = await stack.api.post("/api/admin/fee-reserve/fundings", headers=operator.headers,
                             json={"outpoint": f"{txid}:{vout}", "reason": "fee float for bumps"})
    assert r.status_code == 201 and r.json()["available_sats"] >= sats, r.text


async def _withdraw_asap(stack: Stack, person, sats: int, to: str) -> str:
    r = await stack.api.post("/api/integration/token-withdrawal", headers=person.headers,
                             json={"token_amount": sats, "btc_address": to, "priority": "asap"})
    assert r.status_code == 202, r.text
    return r.json()["operation_id"]


async def _detail(stack: Stack, operator, payout_id: str) -> dict:
    return (await stack.api.get(f"/api/admin/payouts/{payout_id}", headers=operator.headers)).json()


async def _tx(stack: Stack, txid: str) -> dict | None:
    async with httpx.AsyncClient(base_url=stack.esplora_url) as http:
        r = await http.get(f"/tx/{txid}")
        return r.json() if r.status_code == 200 else None


async def _stuck_payout(stack: Stack, to: str, *, reserve_sats: int) -> tuple[Person, str, dict]:
    """An operator funds the fee reserve with ``reserve_sats``; a new user deposits 300,000 sats and
    withdraws 120,000 to ``to`` at once (1 sat/vB), which the miners leave in the mempool. Returns
    the operator, the withdrawal's operation id and its payout view."""
    operator = await stack.person(tier=None, role=Role.OPERATOR)
    await _fund_reserve(stack, operator, reserve_sats)
    alice = await stack.person()
    await stack.deposit(alice, 300_000)
    await stack.approve_router(alice, 120_000)
    op_id = await _withdraw_asap(stack, alice, 120_000, to)
    await stack.wait(op_id, stage="awaiting_payout_confirmations")
    view = (await stack.api.get(f"/api/admin/operations/{op_id}/payout", headers=operator.headers)).json()
    assert view["fee_rate_sat_vb"] == 1 and view["batch_outputs"] == 1  # asap: a payout of its own
    await stack.mine(1)
    assert (await _tx(stack, view["txid"]))["status"]["confirmed"] is False  # the miners leave it
    await stack.assert_quiet("a 1 sat/vB payout the miners leave in the mempool")
    return operator, op_id, view


async def _bump_broadcast(stack: Stack, operator, payout_id: str, what: str) -> dict:
    """The payout's detail once its bump (version 1) is broadcast."""

    async def bumped():
        d = await _detail(stack, operator, payout_id)
        return d if d["current_version"] == 1 and d["versions"][1]["status"] == "broadcast" else None

    return await eventually(bumped, timeout=60, what=lambda: what)


async def _books_agree(stack: Stack, when: str) -> None:
    """Reconciliation finds nothing ``when`` and ``custody ledger check`` passes."""
    await stack.assert_quiet(when)
    report = await run_check(stack.settings)
    assert report.ok, report.problems


async def _fee_books(stack: Stack, op_id: str, payout_id: str) -> dict[str, int]:
    async with stack.sessions() as session:
        ids = {t.transfer.id: t.transfer.amount for t in await ledger.transfers_of_operation(session, uuid.UUID(op_id))}
        bumps = {}
        for n in (1, 2, 3):
            for name in (f"payout-bump:{payout_id}:{n}", f"bump-reserve:{payout_id}:{n}"):
                t = await ledger.get_transfer(session, f"{name}:post")
                if t is not None:
                    bumps[name] = t.transfer.amount
    return {**ids, **bumps}


async def test_a_stuck_payout_is_replaced_at_a_higher_fee_and_the_original_never_confirms(
    payout_stack: Stack, running_worker, stingy_miners,
) -> None:
    stack = payout_stack
    to = foreign_address()
    operator, op_id, view = await _stuck_payout(stack, to, reserve_sats=60_000)
    payout_id, original = view["payout_id"], view["txid"]

    await _estimates(stack, 8)
    await stack.mine(stack.settings.bitcoin.fee_bump_after_blocks)  # still unconfirmed: the bump is due

    detail = await _bump_broadcast(stack, operator, payout_id, "a replacement is broadcast")
    replacement = detail["versions"][1]
    assert replacement["kind"] == "rbf" and replacement["fee_rate_sat_vb"] >= 8
    assert replacement["extra_fee_sats"] == replacement["fee_sats"] - detail["versions"][0]["fee_sats"] > 0
    assert await _tx(stack, original) is None  # evicted by the replacement (BIP 125)
    report = await stack.assert_quiet("the replacement in flight")
    assert any(i.kind == "fee_bump_in_flight" and i.reference == payout_id for i in await stack.items(report.run_id))

    await stack.mine(stack.settings.withdrawals.payout_confirmations)
    op = await stack.wait(op_id, status="completed")
    assert op.btc_tx_hash == replacement["txid"]
    assert await _tx(stack, original) is None  # the original never confirmed
    async with httpx.AsyncClient(base_url=stack.esplora_url) as http:
        paid = (await http.get(f"/address/{to}/txs")).json()
    assert [t["txid"] for t in paid] == [replacement["txid"]]
    assert [o["value"] for o in paid[0]["vout"] if o.get("scriptpubkey_address") == to] == [120_000 - view["fee_sats"]]
    # One payout, the total fee once: the user's share (charged once) + the custodian's extra.
    books = await _fee_books(stack, op_id, payout_id)
    assert books[f"fee-charge:{op_id}:post"] == books[f"payout-fee:{op_id}:post"] == view["fee_sats"]
    assert books[f"payout:{op_id}:post"] == 120_000 - view["fee_sats"]
    extra = replacement["extra_fee_sats"]
    assert books[f"payout-bump:{payout_id}:1"] == books[f"bump-reserve:{payout_id}:1"] == extra
    assert paid[0]["fee"] == view["fee_sats"] + extra
    final = await _detail(stack, operator, payout_id)
    assert (final["status"], final["confirmed_version"], final["extra_fee_sats"]) == ("confirmed", 1, extra)
    assert [v["status"] for v in final["versions"]] == ["replaced", "confirmed"]
    reserve = (await stack.api.get("/api/admin/fee-reserve", headers=operator.headers)).json()
    assert reserve["pending_sats"] == 0
    if os.environ.get("RECORD_HISTORIES"):  # the golden history of a bumped payout, for test_replay
        await save_history(stack.temporal, f"payout-{payout_id}", "payout_bumped")
    await _books_agree(stack, "after the replacement confirmed")


async def test_an_operator_bumps_a_stuck_payout_by_cpfp_through_the_admin_api(
    payout_stack: Stack, running_worker, stingy_miners,
) -> None:
    stack = payout_stack
    operator, op_id, view = await _stuck_payout(stack, foreign_address(), reserve_sats=40_000)
    payout_id = view["payout_id"]
    refused = await stack.api.post(f"/api/admin/payouts/{payout_id}/bump", headers=operator.headers,
                                   json={"reason": "too much", "fee_rate_sat_vb": 10_000})
    assert refused.status_code == 422 and refused.json()["code"] == "fee_rate_above_cap", refused.text
    r = await stack.api.post(f"/api/admin/payouts/{payout_id}/bump", headers=operator.headers,
                             json={"reason": "stuck at 1 sat/vB", "method": "cpfp", "fee_rate_sat_vb": 6})
    assert r.status_code == 202, r.text

    detail = await _bump_broadcast(stack, operator, payout_id, "a CPFP child is broadcast")
    kid = detail["versions"][1]
    assert kid["kind"] == "cpfp" and kid["parent_txid"] == view["txid"] and kid["fee_rate_sat_vb"] >= 6
    await stack.assert_quiet("a CPFP child in flight")
    await stack.mine(stack.settings.withdrawals.payout_confirmations)  # the package is mined together
    op = await stack.wait(op_id, status="completed")
    assert op.btc_tx_hash == view["txid"]
    parent, child_tx = await _tx(stack, view["txid"]), await _tx(stack, kid["txid"])
    assert parent["status"]["block_height"] == child_tx["status"]["block_height"]
    books = await _fee_books(stack, op_id, payout_id)
    assert books[f"payout-bump:{payout_id}:1"] == kid["extra_fee_sats"] == child_tx["fee"]
    async with stack.sessions() as session:
        rows = (await session.execute(select(CustodyUtxo).where(CustodyUtxo.change_of == uuid.UUID(payout_id)))).scalars()
        states = {r.txid: r.state for r in rows}
    assert states == {view["txid"]: "spent", kid["txid"]: "confirmed"}  # the child's output is custody's change
    async with stack.sessions() as session:
        reserve = await ledger.account(session, e.FEE_RESERVE)
    assert reserve.debits_pending == 0
    await _books_agree(stack, "after the CPFP package confirmed")


async def test_when_the_recipient_already_spends_its_output_the_bump_is_a_cpfp_child(
    payout_stack: Stack, running_worker, stingy_miners,
) -> None:
    """RBF would evict the recipient's own transaction: the due bump pays for the parent with a
    child from custody's change instead, and the recipient's spend stays valid."""
    from embit import bip32
    from embit.networks import NETWORKS
    from embit.psbt import PSBT
    from embit.script import p2wpkh
    from embit.transaction import Transaction, TransactionInput, TransactionOutput

    stack = payout_stack
    key = bip32.HDKey.from_seed(uuid.uuid4().bytes * 2).derive("m/84h/1h/0h/0/0")
    to = p2wpkh(key.key).address(NETWORKS["regtest"])
    operator, op_id, view = await _stuck_payout(stack, to, reserve_sats=40_000)
    # The recipient spends what it received, at 1 sat/vB (its child does not lift the package).
    value = 120_000 - view["fee_sats"]
    spend = Transaction(version=2, vin=[TransactionInput(bytes.fromhex(view["txid"]), view["vout"])],
                        vout=[TransactionOutput(value - 200, p2wpkh(key.key))])
    psbt = PSBT(spend)
    psbt.inputs[0].witness_utxo = TransactionOutput(value, p2wpkh(key.key))
    psbt.sign_with(key)
    from embit.finalizer import finalize_psbt

    own = await stack.broadcast(finalize_psbt(psbt).serialize().hex())

    await _estimates(stack, 8)
    await stack.mine(stack.settings.bitcoin.fee_bump_after_blocks)

    detail = await _bump_broadcast(stack, operator, view["payout_id"], "the due bump is broadcast")
    assert detail["versions"][1]["kind"] == "cpfp"
    assert await _tx(stack, own) is not None  # the recipient's transaction was not evicted
    await stack.mine(stack.settings.withdrawals.payout_confirmations)
    op = await stack.wait(op_id, status="completed")
    assert op.btc_tx_hash == view["txid"]
    await _books_agree(stack, "after an automatic CPFP")
