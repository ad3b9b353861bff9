"""Moved to :func:`contracts.starters.start_deposit`."""

from __future__ import annotations

from temporalio.client import Client

from contracts.deposits import DepositInput
from contracts.starters import start_deposit


# re-export for the merge; removed once api/ imports contracts
async def start_deposit_workflow(client: Client, inp: DepositInput, *, task_queue: str) -> bool:
    """:func:`contracts.starters.start_deposit`; False when a closed run forbids a new one."""
    return await start_deposit(client, inp, task_queue=task_queue) is not None
