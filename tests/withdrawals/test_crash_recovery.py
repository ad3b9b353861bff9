"""The worker process is SIGKILLed at each stage of one withdrawal and restarted: the withdrawal
still completes with exactly one burn and exactly one payout."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select
from temporalio.testing import WorkflowEnvironment

from config.settings import Settings
from db.models import ChainSubmission
from tests.fixtures.stack import assert_books_whole
from tests.fixtures.waiting import eventually
from tests.fixtures.worker_process import WorkerProcess, worker_env
from tests.withdrawals.conftest import recipient_address

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("system_unpaused")]
AMOUNT = 80_000
#: Kill points in order; a slow Soroban inclusion keeps the chain calls in flight when killed.
STAGES = ["received", "kyc_check", "burning", "signing", "paying_out", "awaiting_payout_confirmations", "settling"]
SLOW_CHAIN = {"burning", "settling"}


@pytest.fixture
async def worker_process(temporal_env: WorkflowEnvironment, settings: Settings, task_queue: str) -> AsyncIterator[WorkerProcess]:
    env = worker_env(
        settings, temporal_env, task_queue,
        CUSTODY_TEMPORAL__GRACEFUL_SHUTDOWN_SECONDS="0",
        CUSTODY_DEPOSITS__DETECTION_INTERVAL_SECONDS="3600",
    )
    worker = WorkerProcess(env)
    yield worker
    await worker.kill()


async def test_sigkill_at_every_stage_burns_once_and_pays_once(
    worker_process, queue_client, holder, chain, read, sessions, soroban_sandbox, settings,
) -> None:
    h = await holder([AMOUNT + 20_000])
    c = chain.contracts
    reserves_before = await c.reserve.get_total_reserves()
    to = recipient_address()
    r = await queue_client.post("/api/integration/token-withdrawal", headers=h.headers,
                                json={"token_amount": AMOUNT, "btc_address": to})
    assert r.status_code == 202, r.text
    op_id = r.json()["operation_id"]
    faults = soroban_sandbox.state.faults
    try:
        for i, stage in enumerate(STAGES):
            if stage == "settling":
                chain.mine(settings.withdrawals.payout_confirmations)
            faults.inclusion_delay_ledgers = 40 if stage in SLOW_CHAIN else 0
            if stage != "received":  # "received": no worker yet, the workflow waits for one
                await worker_process.start()
                # A fleeting stage (paying_out lasts one broadcast) may be over before a poll sees
                # it; then the kill lands in the next stage, which still proves recovery.
                await read.wait(op_id, stage=stage, timeout=90, or_later=tuple(STAGES[i + 1 :]))
            if stage in SLOW_CHAIN:  # die with the signed envelope stored and in flight
                key = f"withdrawal-{'burn' if stage == 'burning' else 'complete'}:{op_id}"

                async def stored(key: str = key) -> bool:
                    async with sessions() as s:
                        return await s.scalar(select(ChainSubmission).where(ChainSubmission.idempotency_key == key)) is not None

                await eventually(stored, timeout=60, interval=0.02, what=f"the envelope of {key} stored")
            await worker_process.kill()
    finally:
        faults.inclusion_delay_ledgers = 0
    await worker_process.start()
    await read.wait(op_id, status="completed", timeout=120)

    assert await read.submissions(op_id) == {"withdrawal-burn": "succeeded", "withdrawal-complete": "succeeded"}
    assert await read.count_payouts(op_id) == 1
    payout = await read.payout(op_id)
    assert [tx["txid"] for tx in chain.txs_to(to)] == [payout.txid]  # one payout on chain
    assert await c.token.balance(h.address) == 20_000  # burned once
    assert await c.reserve.get_total_reserves() == reserves_before - AMOUNT
    row = await read.balance(h.account.id)
    assert (row.balance, row.reserved_balance) == (20_000, 0)
    pending = {f"withdrawal-hold:{op_id}", f"payout:{op_id}", f"payout-fee:{op_id}", f"fee-charge:{op_id}"}
    await assert_books_whole(sessions, op_id, {*pending, *(f"{t}:post" for t in pending), f"withdrawal-burn:{op_id}"})
