"""Inputs and results of the reconciliation workflow and the pause activities."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from temporalio import activity

RECONCILE = "reconcile"
PAUSE_ENGINE = "pause_engine_for_emergency"
APPLY_CHAIN_PAUSE = "apply_chain_pause"
WORKFLOW = "ReconciliationWorkflow"
CHAIN_PAUSE_WORKFLOW = "ChainPauseWorkflow"


@dataclass(frozen=True)
class ReconciliationInput:
    """``auto_pause`` False makes a dry run: findings are stored and alerted, nothing is paused."""

    auto_pause: bool = True


@dataclass(frozen=True)
class ReconcileInput:
    """One reconciliation run: its id and the workflow id that ran it (stored with the findings)."""

    run_id: uuid.UUID
    workflow_id: str


@dataclass(frozen=True)
class ReconciliationReport:
    """What one run found: the worst severity, the number of findings and users checked."""

    run_id: uuid.UUID
    max_severity: str
    findings: int
    users_checked: int
    paused: bool = False
    should_pause: bool = False
    """An unexplained shortfall was found (critical or worse): the workflow pauses the engine."""


@dataclass(frozen=True)
class EmergencyPauseInput:
    """Pause minting and withdrawals in the engine after run ``run_id``, with the reason shown to admins."""

    run_id: uuid.UUID
    reason: str


@dataclass(frozen=True)
class ChainPauseInput:
    """Make the router's pause flag ``paused``; ``key`` makes the transaction exactly-once."""

    key: str
    paused: bool
    reason: str = ""


# ---- activity stubs: typed call targets for ``workflow.execute_activity`` ------------------------
# The implementations live in ``activities/``; tests/workflow/test_activity_contracts.py fails when one
# drifts from its stub.


@activity.defn(name=RECONCILE)
async def reconcile(inp: ReconcileInput) -> ReconciliationReport:
    """The three-way check (``ReconciliationActivities.reconcile``)."""
    raise NotImplementedError


@activity.defn(name=PAUSE_ENGINE)
async def pause_engine_for_emergency(inp: EmergencyPauseInput) -> None:
    """Pause minting and withdrawals in the engine (``PauseActivities.pause_engine_for_emergency``)."""
    raise NotImplementedError


@activity.defn(name=APPLY_CHAIN_PAUSE)
async def apply_chain_pause(inp: ChainPauseInput) -> str | None:
    """Set the router's pause flag; the tx hash, None when it agreed (``PauseActivities.apply_chain_pause``)."""
    raise NotImplementedError
