"""Both deposit paths replay against today's ``DepositWorkflow``: runs recorded before the lean
path (no ``lean-deposit-path`` marker; a separate update activity before each stage) keep their
command sequence, and the recorded lean run (six activities) replays on the patched branch.

Re-record the lean history with ``RECORD_HISTORIES=1 pytest tests/deposits/test_lean_path.py``;
keep the old files while runs started before the lean path may still be open.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from workflows.deposit import LEAN_PATH, DepositWorkflow

HISTORIES = Path(__file__).parent / "histories"
#: name → (takes the lean path, activities it scheduled)
RECORDED = {
    "deposit": (False, 13),
    "deposit_awaiting_kyc": (False, 14),
    "deposit_lean": (True, 6),
}


def _patches(events: list[dict]) -> set[str]:
    """Patch ids of the ``core_patch`` markers in a history's JSON events."""
    found = set()
    for event in events:
        marker = event.get("markerRecordedEventAttributes")
        if marker and marker.get("markerName") == "core_patch":
            for payload in marker["details"]["patch-data"]["payloads"]:
                found.add(json.loads(base64.b64decode(payload["data"]))["id"])
    return found


@pytest.mark.parametrize("name", sorted(RECORDED))
async def test_deposit_history_replays_on_its_own_path(name: str) -> None:
    doc = json.loads((HISTORIES / f"{name}.json").read_text())
    events = doc["history"]["events"]
    lean, activities = RECORDED[name]
    assert (LEAN_PATH in _patches(events)) is lean
    assert sum(e["eventType"] == "EVENT_TYPE_ACTIVITY_TASK_SCHEDULED" for e in events) == activities
    replayer = Replayer(workflows=[DepositWorkflow], data_converter=pydantic_data_converter)
    result = await replayer.replay_workflow(WorkflowHistory.from_json(doc["workflow_id"], doc["history"]),
                                            raise_on_replay_failure=False)
    assert result.replay_failure is None, result.replay_failure
