"""What the worker runs: every workflow class and every activity, built with real dependencies.

Each capability adds its workflows to :func:`workflows` and its activity objects to
:func:`activities`; the worker and the tests both build from here, so they cannot drift.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from activities.baseline import noop
from config.settings import Settings
from workflows.baseline import BaselineWorkflow


@dataclass
class WorkerDeps:
    """Long-lived clients the activities share within one worker process."""

    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]


def workflows() -> list[type]:
    return [BaselineWorkflow]


def activities(deps: WorkerDeps) -> list[Callable[..., Any]]:
    return [noop]
