"""The vanished-after-mint alarm (the deposit workflow's watch step), run as an activity on the
books' own stack: the credit is held in the books at once (it can no longer be withdrawn), the
operation says so, once; nobody else is paused; the next scan sees the output confirmed and
releases the hold."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from temporalio.testing import ActivityEnvironment

from activities.deposit_guards import DepositGuards
from contracts.deposits import FlagInput
from db import ledger
from db.models import AuditLog
from db.queries import system_state
from tests.fixtures.stack import Stack

pytestmark = pytest.mark.slow


async def test_a_minted_deposit_that_vanishes_has_its_credit_held(stack: Stack) -> None:
    alice = await stack.person()
    op = await stack.deposit(alice, 90_000)
    guards = DepositGuards(sessions=stack.sessions, esplora=stack.deps.esplora, settings=stack.settings)
    for _ in range(2):  # a retried activity changes nothing more
        await ActivityEnvironment().run(guards.flag_vanished, FlagInput(str(op.id), "not_found at tip 500"))

    flagged = await stack.operation(op.id)
    async with stack.sessions() as session:
        pause = await system_state.get_pause(session)
        alarms = (await session.execute(select(AuditLog.action).where(AuditLog.resource_id == str(op.id)))).scalars().all()
        holds = await ledger.open_pending(session, operation_id=op.id, code="reorg_hold")
    assert (flagged.status, flagged.stage, flagged.error) == ("completed", "reorg_hold", "reorged_after_mint")
    assert [h.amount for h in holds] == [90_000]
    assert not pause.minting and not pause.withdrawals
    assert alarms.count("deposit.reorg_held") == 1
    balances = (await stack.api.get("/api/tokens/balances", headers=alice.headers)).json()["balances"][0]
    assert (balances["balance"], balances["reserved_balance"], balances["available"]) == (90_000, 90_000, 0)
    await stack.approve_router(alice, 90_000)
    refused = await stack.withdraw(alice, 40_000, "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080")
    assert refused.status_code == 409 and refused.json()["code"] == "insufficient_balance", refused.text

    await stack.scan()  # the output is confirmed on the chain after all: the hold is released
    assert (await stack.operation(op.id)).stage == "completed"
    async with stack.sessions() as session:
        assert not await ledger.open_pending(session, operation_id=op.id, code="reorg_hold")
    await stack.assert_quiet("after the release")
