"""The vanished-after-mint alarm, run as an activity against real Postgres: the credit is held in
the books at once (it can no longer be withdrawn), the operation says so, once; the engine is not
paused for everyone else."""

from __future__ import annotations

import os
import uuid

import pytest
from sqlalchemy import select
from temporalio.testing import ActivityEnvironment

from activities.custody_books import CustodyBooks, Sighting
from activities.deposit_guards import DepositGuards
from activities.deposit_types import FlagInput
from db import ledger
from db.models import AuditLog, Operation, TokenBalance
from db.queries import deposit_addresses, operations, system_state
from db.queries.operations import NewDeposit
from domain import entries as e
from domain.withdrawals import InsufficientBalance

pytestmark = pytest.mark.usefixtures("custody_worker", "minting_enabled")


async def test_a_minted_deposit_that_vanishes_has_its_credit_held(make_user, sessions, worker_deps, settings) -> None:
    user = await make_user()
    books = CustodyBooks(settings)
    txid, token = os.urandom(32).hex(), settings.soroban.contracts.istsi_token
    async with sessions() as session, session.begin():
        address = (await deposit_addresses.assign_deposit_address(
            session, user_id=user.id, derive_address=worker_deps.wallet.receive_address)).address
        op = await operations.insert_deposit(session, NewDeposit(
            user_id=user.id, txid=txid, vout=0, amount_sats=1_000, idempotency_key=f"deposit:{txid}:0",
            workflow_id=f"deposit-{txid}:0", token_address=token, stellar_address="G" + "A" * 55, source="test"))
        await books.sight(session, Sighting(f"{txid}:0", 1_000, address, 500, None), tip_height=500)
    async with sessions() as session, session.begin():
        op = await session.get(Operation, op.id)
        op.status, op.stage = "completed", "watching"
        await books.credit(session, op)
    guards = DepositGuards(sessions=sessions, esplora=worker_deps.esplora, settings=settings)
    for _ in range(2):  # a retried activity changes nothing more
        await ActivityEnvironment().run(guards.flag_vanished, FlagInput(str(op.id), "not_found at tip 500"))

    async with sessions() as session:
        flagged = await session.get(Operation, op.id)
        pause = await system_state.get_pause(session)
        alarms = (await session.execute(select(AuditLog.action).where(AuditLog.resource_id == str(op.id)))).scalars().all()
        projection = (await session.execute(select(TokenBalance).where(TokenBalance.user_id == user.id))).scalar_one()
        holds = await ledger.open_pending(session, operation_id=op.id, code="reorg_hold")
    assert (flagged.status, flagged.stage, flagged.error) == ("completed", "reorg_hold", "reorged_after_mint")
    assert (projection.balance, projection.reserved_balance) == (1_000, 1_000)
    assert [h.amount for h in holds] == [1_000]
    assert not pause.minting and not pause.withdrawals
    assert alarms.count("deposit.reorg_held") == 1

    from db.queries import withdrawals as wq

    with pytest.raises(InsufficientBalance):  # nothing held can be withdrawn through the engine
        async with sessions() as session, session.begin():
            await wq.insert_with_hold(session, wq.NewWithdrawal(
                operation_id=uuid.uuid4(), user_id=user.id, amount_sats=1, btc_address="bcrt1q", stellar_address="G",
                token_address=token, idempotency_key=f"w:{uuid.uuid4()}", workflow_id="w"))
    async with sessions() as session:
        assert (await ledger.account(session, e.user_istsi(user.id))).credit_available == 0
