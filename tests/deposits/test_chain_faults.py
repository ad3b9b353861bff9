"""With the Stellar RPC sandbox answering TRY_AGAIN_LATER and losing responses, every deposit
still completes, minted exactly once."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

from db.models import ChainSubmission
from tests.deposits.conftest import post_deposit

pytestmark = pytest.mark.usefixtures("custody_worker", "minting_enabled")


@pytest.fixture
def soroban_faults(soroban_sandbox):
    faults = soroban_sandbox.state.faults
    faults.try_again_later_rate, faults.drop_response_rate = 0.5, 0.5
    yield faults
    faults.try_again_later_rate, faults.drop_response_rate = 0.0, 0.0


async def test_deposits_complete_once_despite_try_again_later_and_lost_responses(
    soroban_faults, api_client, make_depositor, btc, wait_for, worker_deps, sessions
) -> None:
    depositors = [await make_depositor() for _ in range(4)]
    paid = [(d, *(await btc.pay(d.deposit_address, 30_000 + i))) for i, d in enumerate(depositors)]
    posted = await asyncio.gather(*(post_deposit(api_client, d, txid, vout, 30_000 + i)
                                    for i, (d, txid, vout) in enumerate(paid)))
    await btc.mine(1)

    ops = [await wait_for(r.json()["operation_id"], status="completed", timeout=90) for r in posted]

    for i, (depositor, _, _) in enumerate(paid):
        assert await worker_deps.contracts.token.balance(depositor.stellar_address) == 30_000 + i
    async with sessions() as session:
        mints = await session.scalar(
            select(func.count()).select_from(ChainSubmission)
            .where(ChainSubmission.idempotency_key.in_([f"mint:{op.id}" for op in ops]))
        )
    assert mints == len(ops)
