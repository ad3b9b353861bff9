"""The worker skeleton against the real Temporal dev server."""

from __future__ import annotations

import asyncio
import signal
import sys
import uuid

from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from config.settings import Settings
from contracts.baseline import BaselineInput
from tests.fixtures.worker_process import worker_env
from workflows.baseline import BaselineWorkflow


async def test_worker_runs_a_workflow_with_the_pydantic_converter(temporal_client: Client, engine_worker) -> None:
    result = await temporal_client.execute_workflow(
        BaselineWorkflow.run,
        BaselineInput(activities=3),
        id=f"baseline-{uuid.uuid4()}",
        task_queue=engine_worker.task_queue,
    )
    assert result == 3


async def test_worker_process_polls_and_stops_cleanly_on_sigterm(
    temporal_env: WorkflowEnvironment, settings: Settings, task_queue: str
) -> None:
    env = worker_env(
        settings, temporal_env, task_queue,
        CUSTODY_TEMPORAL__GRACEFUL_SHUTDOWN_SECONDS="5",
        CUSTODY_LOGGING__LEVEL="INFO",
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "cli.main", "worker", env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    try:
        result = await asyncio.wait_for(
            temporal_env.client.execute_workflow(
                BaselineWorkflow.run, BaselineInput(activities=2), id=f"baseline-{uuid.uuid4()}", task_queue=task_queue
            ),
            timeout=60,
        )
        assert result == 2
        proc.send_signal(signal.SIGTERM)
        out, _ = await asyncio.wait_for(proc.communicate(), timeout=30)
        assert proc.returncode == 0, out.decode()
        assert b"worker stopped" in out
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
