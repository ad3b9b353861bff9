"""Review of the books (issue 13): attacks through the whole stack that break them.

Each test states the property the issue promises and fails while the bug is there. They run on
the books' own stack (:mod:`tests.fixtures.stack`), like ``test_books_acceptance.py``.
"""

from __future__ import annotations

import uuid

import httpx
import pytest
from sqlalchemy import select

from contracts.deposits import KYC_CHANGED_SIGNAL, KycChanged
from db import ledger
from db.models import CustodyUtxo, Payout, PayoutItem, PayoutVersion
from tests.books.test_books_acceptance import balance, foreign_address
from tests.fixtures.stack import Stack, eventually

pytestmark = pytest.mark.slow


@pytest.fixture
async def stack(temporal_env, tmp_path_factory):
    """A whole stack per test (overrides the package's shared one): each attack leaves the books
    broken on purpose, and some need a scanner that has never run."""
    from tests.fixtures.stack import isolated_stack

    async with isolated_stack(temporal_env, tmp_path_factory) as built:
        yield built


async def _row(stack: Stack, outpoint: str) -> CustodyUtxo:
    async with stack.sessions() as session:
        row = await session.get(CustodyUtxo, outpoint)
    assert row is not None, outpoint
    return row


async def _payout_of(stack: Stack, operation_id: str) -> PayoutVersion:
    """The current version (its transaction: ``inputs``, ``txid``) of the withdrawal's payout."""
    async with stack.sessions() as session:
        item = (await session.execute(select(PayoutItem).where(
            PayoutItem.operation_id == uuid.UUID(operation_id)))).scalar_one()
        payout = await session.get(Payout, item.payout_id)
        assert payout is not None
        version = (await session.execute(select(PayoutVersion).where(
            PayoutVersion.payout_id == payout.id, PayoutVersion.version == payout.current_version))).scalar_one()
    return version


async def _deep_deposit(stack: Stack, p, sats: int, blocks: int) -> tuple[str, str, int]:
    """A POSTed deposit mined ``blocks`` deep, completed; returns (operation id, txid, vout)."""
    txid, vout = await stack.pay(p.deposit_address, sats)
    posted = await stack.api.post("/api/integration/bitcoin-deposit", headers=p.headers,
                                  json={"btc_amount": sats, "btc_tx_hash": txid, "vout": vout})
    assert posted.status_code == 202, posted.text
    dep = posted.json()["operation_id"]
    await stack.wait(dep, stage="awaiting_confirmations")
    await stack.mine(blocks)
    await stack.wait(dep, status="completed")
    return dep, txid, vout


async def _withdrawn(stack: Stack, p, sats: int) -> str:
    """``p`` approves the router and withdraws ``sats`` to a foreign address; returns the
    withdrawal's operation id once its payout is broadcast."""
    await stack.approve_router(p, sats)
    response = await stack.withdraw(p, sats, foreign_address())
    assert response.status_code == 202, response.text
    wd = response.json()["operation_id"]
    await stack.wait(wd, stage="awaiting_payout_confirmations")
    return wd


async def test_a_deposit_waiting_for_kyc_is_credited_after_a_payout_spent_its_output(stack: Stack) -> None:
    """Coin selection took *any* confirmed output, including a deposit that is not credited yet
    (here: waiting for its owner's KYC). The guard then required that deposit's own output to be
    ``confirmed`` in the set, which it never was again: the deposit parked at
    ``needs_attention`` though its BTC was in custody (as the payout's change). Coin selection
    now spends only outputs that back issued tokens; the uncredited coin stays put.
    """
    alice, bob = await stack.person(), await stack.person(tier=None)
    await stack.deposit(alice, 100_000)

    txid, vout = await stack.pay(bob.deposit_address, 400_000)  # largest coin in custody
    await stack.mine(1)
    await stack.scan()
    async with stack.sessions() as session:
        from db.queries import operations

        dep = await operations.get_by_outpoint(session, outpoint=f"{txid}:{vout}")
    assert dep is not None
    await stack.wait(dep.id, stage="awaiting_kyc")

    wd = await _withdrawn(stack, alice, 50_000)
    payout = await _payout_of(stack, wd)
    assert not any(i["outpoint"] == f"{txid}:{vout}" for i in payout.inputs), "the payout spent an uncredited receipt"
    await stack.mine(stack.settings.withdrawals.payout_confirmations)
    await stack.wait(wd, status="completed")

    # Bob completes his KYC: his deposit is credited (its BTC never left custody).
    await stack.approve_kyc(bob, 2)
    await stack.temporal.get_workflow_handle(dep.workflow_id).signal(KYC_CHANGED_SIGNAL, KycChanged(str(bob.id)))
    done = await stack.wait(dep.id, status="completed", timeout=60)
    assert (done.status, done.stage, done.error) == ("completed", "completed", None), (
        f"bob's deposit is stranded: {done.status}/{done.stage}/{done.error}; "
        f"his output is {(await _row(stack, f'{txid}:{vout}')).state}")
    assert await balance(stack, bob) == (400_000, 0)


async def test_a_reorged_deposit_whose_output_a_payout_had_chosen_has_its_credit_held(stack: Stack) -> None:
    """A credited deposit's output is the largest coin, so the next payout reserves it. Then the
    deposit's transaction is reorged away (and the payout with it, as its descendant). The issue:
    "its tokens cannot be redeemed or moved through the engine until it confirms again; no other
    user's BTC is ever paid against it". ``domain.utxo_set.decide`` answers NOTHING for a
    ``reserved`` row, so no hold is placed; the depositor redeems the vanished credit out of
    another user's coin.
    """
    honest, alice = await stack.person(), await stack.person()
    await stack.deposit(honest, 600_000)
    dep, txid, vout = await _deep_deposit(stack, alice, 700_000, 1)
    await stack.scan()

    wd = await _withdrawn(stack, honest, 100_000)
    assert [i["outpoint"] for i in (await _payout_of(stack, wd)).inputs] == [f"{txid}:{vout}"]

    await stack.reorg(1, drop_txids=[txid])  # alice's deposit is gone; the payout spending it too
    await stack.scan()
    await stack.scan()
    row = await _row(stack, f"{txid}:{vout}")
    async with stack.sessions() as session:
        holds = await ledger.open_pending(session, operation_id=uuid.UUID(dep), code="reorg_hold")
    op = await stack.operation(dep)
    assert holds and await balance(stack, alice) == (700_000, 700_000), (
        f"no hold: row {row.state} (reserved by {row.reserved_by}), operation {op.stage}/{op.error}, "
        f"alice's balance {await balance(stack, alice)}")


async def test_the_unheld_credit_of_a_reorged_reserved_deposit_is_paid_from_other_users_coins(stack: Stack) -> None:
    """The money effect of the test above: the depositor's redemption is accepted and paid out of
    the honest user's coin."""
    honest, alice = await stack.person(), await stack.person()
    await stack.deposit(honest, 600_000)
    honest_coin = next(r.outpoint for r in await _rows_of(stack, honest.deposit_address))
    _, txid, _ = await _deep_deposit(stack, alice, 700_000, 1)
    await stack.scan()
    await _withdrawn(stack, honest, 100_000)
    await stack.reorg(1, drop_txids=[txid])
    await stack.scan()

    await stack.approve_router(alice, 500_000)
    response = await stack.withdraw(alice, 500_000, foreign_address())
    if response.status_code == 202:
        theft = response.json()["operation_id"]
        await stack.wait(theft, stage="awaiting_payout_confirmations")
        inputs = [i["outpoint"] for i in (await _payout_of(stack, theft)).inputs]
        pytest.fail(f"the vanished deposit's credit was redeemed: payout inputs {inputs} (honest's coin {honest_coin})")
    assert response.status_code == 409 and response.json()["code"] == "insufficient_balance", response.text


async def _rows_of(stack: Stack, address: str) -> list[CustodyUtxo]:
    async with stack.sessions() as session:
        return list((await session.execute(select(CustodyUtxo).where(CustodyUtxo.address == address))).scalars())


async def test_a_reorged_deposit_partly_withdrawn_before_is_an_unexplained_shortfall(stack: Stack) -> None:
    """Alice deposits 200,000, withdraws 150,000 (paid out of honest's coin), then her deposit is
    reorged away. Only her remaining 50,000 can be held; the 150,000 she took is gone from
    custody for good. Custody now holds 150,000 sats against honest's 300,000 tokens (plus
    Alice's 50,000 held ones): an unexplained shortfall of 150,000 that must pause. The books
    move the *whole* 200,000 into ``reorged_deposits``, which reconciliation, the solvency guard
    and ``custody ledger check`` all subtract as "explained": every one of them stays quiet.
    """
    from cli.ledger import run_check

    honest, alice = await stack.person(), await stack.person()
    await stack.deposit(honest, 300_000)
    dep, txid, vout = await _deep_deposit(stack, alice, 200_000, 1)
    await stack.scan()
    wd = await _withdrawn(stack, alice, 150_000)
    assert f"{txid}:{vout}" not in [i["outpoint"] for i in (await _payout_of(stack, wd)).inputs]
    await stack.mine(stack.settings.withdrawals.payout_confirmations)
    await stack.wait(wd, status="completed")
    await stack.scan()

    await stack.reorg(1 + stack.settings.withdrawals.payout_confirmations, drop_txids=[txid])
    await stack.scan()
    op = await stack.wait(dep, stage="reorg_hold")
    assert op.meta["reorg_hold"]["held_units"] == 50_000
    supply = await stack.deps.contracts.token.total_supply()
    async with stack.sessions() as session:
        from db.queries import custody

        held_by_custody = (await custody.totals(session)).available
    assert supply - 50_000 - held_by_custody == 150_000  # the unheld tokens lack 150,000 sats of backing

    report = await stack.reconcile(auto_pause=False)
    findings = [(f.check_name, f.expected_sats, f.actual_sats, f.severity) for f in await stack.findings(report.run_id)]
    check = await run_check(stack.settings)
    assert report.max_severity in ("critical", "emergency") and report.should_pause, (
        f"a 150,000-sat unexplained shortfall was reported as {report.max_severity}: {findings}; "
        f"ledger check ok={check.ok}")


class _ReorgDuringScan:
    """The stack's Esplora client, except that the chain reorganises the moment the scanner asks
    for the block at ``height`` (as a real chain may between two requests of one scan run)."""

    def __init__(self, stack: Stack, real, *, height: int, depth: int, drop_txids: list[str]) -> None:
        self._stack, self._real = stack, real
        self._height, self._depth, self._drop = height, depth, drop_txids
        self.fired = False

    def __getattr__(self, name: str):
        return getattr(self._real, name)

    async def block_hash_at(self, height: int) -> str:
        if height == self._height and not self.fired:
            self.fired = True
            await self._stack.reorg(self._depth, drop_txids=self._drop)
        return await self._real.block_hash_at(height)


async def test_a_reorg_between_two_blocks_of_one_scan_run_is_not_left_in_the_set(stack: Stack) -> None:
    """``_connect`` never checks that the block it applies builds on the cursor's block, and
    ``_fork_point`` only compares the cursor. When the chain reorganises in the middle of a scan
    run, the new chain's next block is applied on top of the orphaned one, and the orphaned
    block's outputs stay ``confirmed`` in the set for good (later scans see a matching cursor)."""
    from temporalio.testing import ActivityEnvironment

    from activities.deposit_detection import DepositDetection
    from contracts.deposits import ScanInput
    from db.models import CustodyAddress

    await stack.scan()
    async with stack.sessions() as session:
        spare = (await session.execute(select(CustodyAddress).where(
            CustodyAddress.user_id.is_(None), CustodyAddress.branch == 0).order_by(
            CustodyAddress.derivation_index.desc()).limit(1))).scalar_one()
    txid, vout = await stack.pay(spare.address, 55_000)
    first = await stack.mine(1)  # the payment's block …
    await stack.mine(1)  # … and one on top
    esplora = _ReorgDuringScan(stack, stack.deps.esplora, height=first + 1, depth=2, drop_txids=[txid])
    detection = DepositDetection(settings=stack.settings, sessions=stack.sessions, esplora=esplora,
                                 wallet=stack.deps.wallet)
    await ActivityEnvironment(client=stack.temporal).run(detection.scan_deposit_addresses, ScanInput(3600))
    assert esplora.fired
    for _ in range(2):
        await stack.scan()
    row = await _row(stack, f"{txid}:{vout}")
    from chains.bitcoin.errors import TxNotFound

    with pytest.raises(TxNotFound):
        await stack.deps.esplora.transaction_status(txid)  # the chain does not know the payment any more
    assert row.state != "confirmed", (
        f"a payment the chain dropped is still confirmed at height {row.block_height} in the set")


async def test_a_parked_mint_does_not_hide_tokens_minted_outside_the_engine(stack: Stack) -> None:
    """Reconciliation explains a supply shortfall with *every* open pending deposit credit
    ("mint in progress"), whether or not that mint reached Stellar. A deposit whose guard passed
    and whose mint did not land (a mint parked at ``needs_attention`` after a router refusal, or
    simply the seconds of any mint) hides up to its amount of iSTSi minted outside the engine:
    the acceptance test's own injected shortfall is then reported ``none``.

    The guard is run directly here for a deposit that waits for its owner's KYC: the state is the
    one the workflow leaves when the router refuses its mint (pending credit, no mint)."""
    from stellar_sdk import Keypair
    from temporalio.testing import ActivityEnvironment

    from activities.deposit_guards import DepositGuards
    from contracts.deposits import SolvencyInput
    from db.queries import operations

    alice, bob = await stack.person(), await stack.person(tier=None)
    await stack.deposit(alice, 100_000)
    txid, vout = await stack.pay(bob.deposit_address, 400_000)
    await stack.mine(1)
    await stack.scan()
    async with stack.sessions() as session:
        dep = await operations.get_by_outpoint(session, outpoint=f"{txid}:{vout}")
    await stack.wait(dep.id, stage="awaiting_kyc")
    guards = DepositGuards(sessions=stack.sessions, esplora=stack.deps.esplora, settings=stack.settings)
    await ActivityEnvironment().run(guards.check_solvency, SolvencyInput(str(dep.id), txid, vout, 400_000))
    await stack.assert_quiet("a mint in progress")

    # 150,000 iSTSi minted outside the engine, passed on to an account that is no engine user
    outsider = Keypair.random()
    async with httpx.AsyncClient() as http:
        (await http.get(f"{stack.soroban_url}/friendbot", params={"addr": outsider.public_key})).raise_for_status()
    await stack.deps.contracts.router.execute_bitcoin_deposit(alice.stellar, 150_000, uuid.uuid4().bytes * 2, 0, 6, 1)
    await stack.deps.contracts.token.transfer(alice.stellar, outsider.public_key, 150_000, signer=alice.keypair)
    try:
        report = await stack.reconcile()
        checks = {f.check_name: (f.expected_sats, f.actual_sats, f.severity) for f in await stack.findings(report.run_id)}
        assert report.paused and checks.get("supply_vs_books", (0, 0, ""))[2] == "emergency", (
            f"150,000 unbacked iSTSi reported as {report.max_severity}: {checks}")
    finally:
        await stack.unpause()


async def test_a_withdrawal_held_before_the_reorg_is_not_paid_from_other_users_coins(stack: Stack) -> None:
    """Alice's withdrawal of 5,500,000 of her 6,000,000 waits for an operator's approval (its
    hold is on her balance) when her deposit is reorged away. ``reorg_hold`` used to hold only
    the *available* 500,000 and leave the withdrawal as it was: the approval then burned her
    unbacked tokens and paid her out of the honest user's coin. Now the withdrawal, not burning
    yet, gives its hold up to the reorg hold (the whole 6,000,000 are held) and its approval
    fails instead of paying."""
    from domain.roles import Role

    honest, alice = await stack.person(), await stack.person()
    operator = await stack.person(tier=None, role=Role.OPERATOR)
    large = stack.settings.bitcoin.large_deposit_confirmations
    await _deep_deposit(stack, honest, 7_000_000, large)
    await stack.scan()  # the scanner knows the blocks the reorg will replace
    dep, txid, _ = await _deep_deposit(stack, alice, 6_000_000, large)
    await stack.scan()
    await stack.approve_router(alice, 5_500_000)
    response = await stack.withdraw(alice, 5_500_000, foreign_address())
    assert response.status_code == 202, response.text
    wd = response.json()["operation_id"]
    await stack.wait(wd, stage="awaiting_approval")

    await stack.reorg(large, drop_txids=[txid])  # Alice's deposit is gone
    await stack.scan()
    op = await stack.wait(dep, stage="reorg_hold")
    assert op.meta["reorg_hold"]["held_units"] == 6_000_000
    approved = await stack.api.post(f"/api/admin/operations/{wd}/approve", headers=operator.headers,
                                    json={"reason": "looks fine"})
    assert approved.status_code == 202, approved.text

    async def outcome():
        w = await stack.operation(wd)
        return w if w.stage in ("awaiting_payout_confirmations", "completed", "needs_attention") \
            or w.status in ("failed", "cancelled") else None

    w = await eventually(outcome, timeout=60, what=lambda: "the withdrawal moves on")
    if w.stage == "awaiting_payout_confirmations":
        inputs = [i["outpoint"] for i in (await _payout_of(stack, wd)).inputs]
        honest_coins = [r.outpoint for r in await _rows_of(stack, honest.deposit_address)]
        pytest.fail(f"5,500,000 sats paid for a vanished deposit's credit, out of {inputs} (honest's: {honest_coins})")
    assert w.status in ("failed", "cancelled"), (w.status, w.stage, w.error)


async def test_a_reorg_below_the_scanners_first_block_still_holds_the_credit(stack: Stack) -> None:
    """The first scan (bootstrap) stores only the tip's hash. A reorg reaching below it (here
    two blocks below, right after the first scan) makes ``_fork_point`` raise an alert and return
    "one below the lowest known block" as if that were the fork; the outputs of the orphaned
    blocks underneath are never revisited. A credited deposit in them stays ``confirmed`` in the
    set, its credit is never held and can be redeemed. (KEEP_BLOCKS later covers 500 blocks; the
    same happens to any reorg deeper than the blocks scanned since the bootstrap.)"""
    alice = await stack.person()
    dep, txid, _ = await _deep_deposit(stack, alice, 200_000, 1)
    await stack.mine(2)
    await stack.scan()  # first scan of this stack: the cursor starts at the tip
    await stack.reorg(3, drop_txids=[txid])
    await stack.scan()
    await stack.scan()
    row = next(r for r in await _rows_of(stack, alice.deposit_address))
    op = await stack.operation(dep)
    assert await balance(stack, alice) == (200_000, 200_000), (
        f"no hold after the reorg: row {row.state} at {row.block_height}, operation {op.stage}")
