"""The vanished-after-mint alarm, run as an activity against real Postgres: it flags the operation,
pauses minting and audits both, once."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from temporalio.testing import ActivityEnvironment

from activities.deposit_guards import DepositGuards
from activities.deposit_types import FlagInput
from db.models import AuditLog, Operation
from db.queries import system_state
from domain.pause import PauseState

pytestmark = pytest.mark.usefixtures("custody_worker", "minting_enabled")


async def test_a_minted_deposit_that_vanishes_is_flagged_and_minting_pauses(
    make_user, sessions, worker_deps
) -> None:
    user = await make_user()
    op = Operation(user_id=user.id, operation_type="deposit", status="completed", stage="watching", amount=1_000,
                   outpoint="ee" * 32 + ":0")
    async with sessions() as session, session.begin():
        session.add(op)
    guards = DepositGuards(sessions=sessions, esplora=worker_deps.esplora, contracts=worker_deps.contracts)
    try:
        for _ in range(2):  # a retried activity changes nothing more
            await ActivityEnvironment().run(guards.flag_vanished, FlagInput(str(op.id), "not_found at tip 500"))
        async with sessions() as session:
            flagged = await session.get(Operation, op.id)
            pause = await system_state.get_pause(session)
            alarms = (await session.execute(
                select(AuditLog.action).where(AuditLog.resource_id == str(op.id))
            )).scalars().all()
    finally:
        async with sessions() as session, session.begin():
            await system_state.set_pause(session, state=PauseState(), actor_id=None)
    assert (flagged.status, flagged.stage, flagged.error) == ("completed", "needs_attention", "reorged_after_mint")
    assert pause.minting and "left the chain" in (pause.reason or "")
    assert alarms == ["deposit.reorged_after_mint"]
