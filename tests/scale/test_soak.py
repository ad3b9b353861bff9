"""The chaos soak (``custody soak``) for about a minute: deposits and withdrawals at the chain's
limit over 4 channel accounts with a ledger every 4 s (1 transaction per second, the load one
source account gets at 1 s, so the drain takes as long, but each ledger carries four envelopes)
while the worker, the API and the Soroban sandbox are SIGKILLed and restarted, and the sandbox
answers ``TRY_AGAIN_LATER`` and drops responses; then every check of :mod:`cli.soak_checks` must
hold. The seed is random and printed (``CUSTODY_SOAK_SEED`` repeats a run;
``CUSTODY_SOAK_SECONDS`` runs longer)."""

from __future__ import annotations

import os
import random

import pytest

from cli.soak import SoakConfig, run_soak
from cli.soak_stack import StackConfig
from tests.fixtures.postgres import SERVER_URL

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(900),
    # Its load and kill moments are random and its assertions include load minimums, so it runs
    # on demand (`make soak`, or `custody soak`), not in every `make test`.
    pytest.mark.skipif(not os.environ.get("CUSTODY_SOAK"), reason="the chaos soak runs with CUSTODY_SOAK=1 (make soak)"),
]


async def test_chaos_soak_loses_doubles_and_misreports_nothing() -> None:
    seed = int(os.environ.get("CUSTODY_SOAK_SEED") or random.SystemRandom().randrange(2**32))
    config = SoakConfig(seconds=float(os.environ.get("CUSTODY_SOAK_SECONDS", "50")), seed=seed, users=5,
                        kill_every=(3.0, 7.0), try_again_later_rate=0.2, drop_response_rate=0.2,
                        stack=StackConfig(pg_server_url=SERVER_URL, channels=4, ledger_interval_seconds=4.0))
    report = await run_soak(config, say=print)

    assert report.ok, f"seed {seed}:\n{report.summary()}"
    assert set(report.kills) == {"worker", "api", "soroban"}, report.summary()
    assert report.load.deposits >= 15 and report.load.withdrawals >= 3, report.summary()
    assert any(k.startswith("withdrawal completed") for k in report.outcomes), report.summary()
