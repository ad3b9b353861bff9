"""A withdrawal (and its payout) that waits long for people keeps a short history.

Before: a withdrawal following its batch polled every interval and never continued as new, so a
payout waiting days for its signers grew the withdrawal's history without bound (Temporal fails
a run at 50 Ki events, stranding the burned withdrawal), and under load the replay of such a
history outlived the workflow-task timeout again and again (seen in CI: 6,000 events, tasks of
330 s). Now polls back off while nothing changes and both workflows continue as new when the
server suggests it. This test runs a Temporal dev server of its own whose suggestion comes after
80 events instead of 4 Ki, so the multisig payout's wait for its signers crosses several runs;
the withdrawal is then paid exactly once and completes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from temporalio.api.enums.v1 import WorkflowExecutionStatus
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from cli.ledger import run_check
from contracts.search_attributes import ALL
from tests.fixtures.stack import Stack, eventually, isolated_stack
from tests.fixtures.temporal import binary
from tests.payouts.cosigners import cosigner, custody_descriptor
from tests.payouts.test_multisig_custody import _sign, withdrawal_awaiting_signers

pytestmark = pytest.mark.slow

SUGGEST_AFTER_EVENTS = 80


@pytest.fixture(scope="module")
async def short_history_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=binary("temporal"), search_attributes=ALL, data_converter=pydantic_data_converter,
        ui=False, dev_server_log_level="error",
        dev_server_extra_args=["--dynamic-config-value",
                               f"limit.historyCount.suggestContinueAsNew={SUGGEST_AFTER_EVENTS}"],
    )
    yield env
    await env.shutdown()


@pytest.fixture(scope="module")
async def stack(short_history_env, tmp_path_factory) -> AsyncIterator[Stack]:
    overrides = {
        "bitcoin": {"custody_descriptor": custody_descriptor(), "signer": "external", "signing_secret_file": None},
        "withdrawals": {"minimum_sats": 50_000, "batch_interval_seconds": 0.5, "poll_interval_seconds": 0.1},
    }
    async with isolated_stack(short_history_env, tmp_path_factory, overrides=overrides) as built:
        yield built


async def _runs(stack: Stack, workflow_id: str) -> list:
    return [w async for w in stack.temporal.list_workflows(f"WorkflowId = '{workflow_id}'")]


async def test_a_withdrawal_waiting_long_for_its_signers_continues_as_new_and_is_paid_once(stack: Stack) -> None:
    w = await withdrawal_awaiting_signers(stack, deposit=300_000, amount=120_000, operators=2)
    ops, to, op_id, payout = w.operators, w.to, w.op_id, w.payout

    async def continued(workflow_id: str, runs: int):
        found = await _runs(stack, workflow_id)
        done = sum(w.status == WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW for w in found)
        return found if done >= runs else None

    # Waiting for people: both workflows cross runs, and each run's history stays near the limit.
    withdrawal_runs = await eventually(lambda: continued(f"withdrawal-{op_id}", 2), timeout=120,
                                       what="the withdrawal continued as new twice")
    payout_runs = await eventually(lambda: continued(f"payout-{payout['payout_id']}", 1), timeout=120,
                                   what="the payout continued as new")
    for run in withdrawal_runs + payout_runs:
        assert run.history_length < 4 * SUGGEST_AFTER_EVENTS, (run.id, run.run_id, run.history_length)
    assert (await stack.operation(op_id)).stage == "signing"

    # The signers come back: the current run takes the signatures, pays once and completes.
    (first,) = payout["versions"]
    assert (await _sign(stack, ops[0], payout["payout_id"], cosigner(0).sign(first["psbt"]))).status_code == 202
    current = (await stack.api.get(f"/api/admin/payouts/{payout['payout_id']}", headers=ops[0].headers)).json()
    done = await _sign(stack, ops[1], payout["payout_id"], cosigner(1).sign(current["versions"][0]["psbt"]))
    assert done.status_code == 202 and done.json()["status"] == "signed", done.text
    await stack.wait(op_id, stage="awaiting_payout_confirmations")
    await stack.mine(stack.settings.withdrawals.payout_confirmations)
    op = await stack.wait(op_id, status="completed")
    assert op.btc_tx_hash == first["txid"]
    async with httpx.AsyncClient(base_url=stack.esplora_url) as http:
        paid = [o for o in (await http.get(f"/address/{to}/utxo")).json()]
    assert len(paid) == 1  # one output to the recipient, whatever the runs
    report = await run_check(stack.settings)
    assert report.ok, report.problems


async def test_a_user_cancel_after_the_withdrawal_continued_as_new_leaves_the_batch_and_credits_back(
    stack: Stack,
) -> None:
    w = await withdrawal_awaiting_signers(stack, deposit=200_000, amount=100_000, operators=1)
    bob, (operator,), to, op_id, batch = w.owner, w.operators, w.to, w.op_id, w.payout

    async def resumed():
        runs = await _runs(stack, f"withdrawal-{op_id}")
        return len(runs) >= 2 and any(w.status == WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_RUNNING
                                      for w in runs) or None

    await eventually(resumed, timeout=120, what="a later run of the withdrawal follows the batch")
    # The resumed run only knows what the previous one handed over; the user's cancel still works.
    cancel = await stack.api.post(f"/api/integration/operations/{op_id}/cancel", headers=bob.headers,
                                  json={"reason": "changed my mind"})
    assert cancel.status_code == 202, cancel.text
    done = await stack.wait(op_id, status="cancelled")
    assert done.error == "cancelled_by_user"
    old = (await stack.api.get(f"/api/admin/payouts/{batch['payout_id']}", headers=operator.headers)).json()
    assert old["status"] == "abandoned"
    async with httpx.AsyncClient(base_url=stack.esplora_url) as http:
        assert (await http.get(f"/address/{to}/txs")).json() == []  # never paid
    balance = (await stack.api.get("/api/tokens/balances", headers=bob.headers)).json()["balances"][0]["balance"]
    assert balance == 200_000  # re-minted and credited back, once
    report = await run_check(stack.settings)
    assert report.ok, report.problems
