"""Replay every recorded history against today's workflow code: a change that would break running
workflows (non-determinism) fails here. Record a new golden history with
``python -m tests.workflow.record_history <WorkflowType>`` when a workflow changes on purpose
(and keep the old file while old runs may still be open)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from workers import registry

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))


def test_there_is_a_history_for_every_workflow() -> None:
    recorded = {json.loads(p.read_text())["workflow_type"] for p in HISTORIES}
    missing = {wf.__temporal_workflow_definition.name for wf in registry.workflows()} - recorded
    assert not missing, f"record a history for: {sorted(missing)}"


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_recorded_history_replays(path: Path) -> None:
    doc = json.loads(path.read_text())
    history = WorkflowHistory.from_json(doc["workflow_id"], doc["history"])
    replayer = Replayer(workflows=registry.workflows(), data_converter=pydantic_data_converter)
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, result.replay_failure
