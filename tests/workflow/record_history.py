"""Record golden histories for the replay test from a finished workflow on a Temporal server.

Usage: ``python -m tests.workflow.record_history WORKFLOW_ID NAME [--address 127.0.0.1:7233]``
writes ``tests/workflow/histories/NAME.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

HISTORIES = Path(__file__).parent / "histories"


async def save_history(client: Client, workflow_id: str, name: str) -> Path:
    handle = client.get_workflow_handle(workflow_id)
    history = await handle.fetch_history()
    desc = await handle.describe()
    path = HISTORIES / f"{name}.json"
    path.write_text(
        json.dumps(
            {"workflow_id": workflow_id, "workflow_type": desc.workflow_type, "history": json.loads(history.to_json())},
            indent=1,
        )
    )
    return path


async def _main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("workflow_id")
    parser.add_argument("name")
    parser.add_argument("--address", default="127.0.0.1:7233")
    args = parser.parse_args()
    client = await Client.connect(args.address, data_converter=pydantic_data_converter)
    print(await save_history(client, args.workflow_id, args.name))


if __name__ == "__main__":
    asyncio.run(_main())
