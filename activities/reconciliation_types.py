"""Inputs and results of the reconciliation workflow and the pause activities."""

from __future__ import annotations

import uuid
from dataclasses import dataclass


@dataclass(frozen=True)
class ReconciliationInput:
    """``auto_pause`` False makes a dry run: findings are stored and alerted, nothing is paused."""

    auto_pause: bool = True


@dataclass(frozen=True)
class ReconcileInput:
    run_id: uuid.UUID
    workflow_id: str


@dataclass(frozen=True)
class ReconciliationReport:
    run_id: uuid.UUID
    max_severity: str
    findings: int
    users_checked: int
    paused: bool = False
    should_pause: bool = False
    """An unexplained shortfall was found (critical or worse): the workflow pauses the engine."""


@dataclass(frozen=True)
class EmergencyPauseInput:
    run_id: uuid.UUID
    reason: str


@dataclass(frozen=True)
class ChainPauseInput:
    """Make the router's pause flag ``paused``; ``key`` makes the transaction exactly-once."""

    key: str
    paused: bool
    reason: str = ""
