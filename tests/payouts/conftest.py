"""Stacks of their own for the payout acceptance (issue 17), so the global totals reconciliation
and ``custody ledger check`` read are the payouts' alone:

* ``payout_stack``: single-key hot custody, batches of up to 50 withdrawals closing after 600 s,
  and its worker as a real, killable process (``payout_worker``);
* ``multisig_stack``: 2-of-3 ``wsh(sortedmulti)`` custody with no key in the engine: every
  signature comes from the BDK cosigners of :mod:`tests.payouts.cosigners` through the admin API.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.fixtures.stack import Stack, isolated_stack
from tests.fixtures.worker_process import WorkerProcess, worker_env
from tests.payouts.cosigners import custody_descriptor

BATCH_OUTPUTS = 50
_BATCHES = {"batch_max_outputs": BATCH_OUTPUTS, "batch_interval_seconds": 600.0, "poll_interval_seconds": 0.5}


@pytest.fixture(scope="package")
async def payout_stack(temporal_env, tmp_path_factory) -> AsyncIterator[Stack]:
    async with isolated_stack(temporal_env, tmp_path_factory, overrides={"withdrawals": _BATCHES},
                              in_process_worker=False) as built:
        yield built


@pytest.fixture(scope="package")
async def payout_worker(payout_stack: Stack, temporal_env, tmp_path_factory) -> AsyncIterator[WorkerProcess]:
    """The stack's worker as a process (SIGKILL and restart at will); running when a test starts."""
    env = worker_env(
        payout_stack.settings, temporal_env, payout_stack.task_queue,
        CUSTODY_TEMPORAL__GRACEFUL_SHUTDOWN_SECONDS="0",
        CUSTODY_DEPOSITS__DETECTION_INTERVAL_SECONDS="3600",
        CUSTODY_WITHDRAWALS__BATCH_MAX_OUTPUTS=str(BATCH_OUTPUTS),
        CUSTODY_WITHDRAWALS__BATCH_INTERVAL_SECONDS="600",
        CUSTODY_WITHDRAWALS__POLL_INTERVAL_SECONDS="0.5",
        # closer to production's 60 s / 8 attempts: a 50-output cut on a loaded machine takes a while
        CUSTODY_WITHDRAWALS__ACTIVITY_TIMEOUT_SECONDS="30",
        CUSTODY_WITHDRAWALS__ACTIVITY_MAX_ATTEMPTS="6",
    )
    worker = WorkerProcess(env, log_path=tmp_path_factory.mktemp("payout-worker") / "worker.log")
    await worker.start()
    yield worker
    await worker.kill()


@pytest.fixture
async def running_worker(payout_worker: WorkerProcess) -> WorkerProcess:
    if payout_worker.proc is None or payout_worker.proc.returncode is not None:
        await payout_worker.start()
    return payout_worker


@pytest.fixture(scope="package")
async def multisig_stack(temporal_env, tmp_path_factory) -> AsyncIterator[Stack]:
    overrides = {
        "bitcoin": {"custody_descriptor": custody_descriptor(), "signer": "external", "signing_secret_file": None},
        # 2-of-3 P2WSH inputs weigh more: the minimum covers the worst-case fee at the cap plus dust.
        # A batch is cut this long after its oldest withdrawal joined: long enough that two withdrawals
        # posted back to back share one on a loaded machine.
        "withdrawals": {"minimum_sats": 50_000, "batch_interval_seconds": 5.0},
    }
    async with isolated_stack(temporal_env, tmp_path_factory, overrides=overrides) as built:
        yield built
