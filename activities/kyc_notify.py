"""Telling a user's waiting deposits that their KYC changed (activity of the KYC workflow).

A deposit at ``awaiting_kyc`` / ``awaiting_limits`` gets the ``kyc_changed`` signal and checks its
policy again at once. A deposit parked at ``needs_attention`` by an older run's policy refusal that
the user could fix (``insufficient_kyc_tier``, ``limit_exceeded``) gets ``retry``, so it re-checks
under today's rules instead of waiting for an operator. Best effort: a deposit whose workflow is
gone is skipped, and every waiting deposit also re-checks on a timer.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.service import RPCError, RPCStatusCode

from contracts import deposits as dt
from contracts import kyc as t
from contracts.operations import RETRY_SIGNAL, OperatorAction
from db.queries import operations
from domain.operations import OperationStage

log = logging.getLogger(__name__)


class KycNotifications:
    """The notify activity over one worker's session factory (the Temporal client is the activity's)."""

    def __init__(self, *, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    def all(self) -> list[Callable[..., Awaitable[Any]]]:
        return [self.notify_waiting_deposits]

    @activity.defn(name=t.NOTIFY_WAITING)
    async def notify_waiting_deposits(self, inp: dt.KycChanged) -> t.NotifyResult:
        """Signal each of the user's deposits that waits on them (idempotent: a repeated signal
        only makes a deposit check again)."""
        async with self._sessions() as session:
            waiting = await operations.list_waiting_on_user(session, user_id=uuid.UUID(inp.user_id))
        client = activity.client()
        signalled = retried = 0
        for op in waiting:
            if not op.workflow_id:
                continue
            handle = client.get_workflow_handle(op.workflow_id)
            try:
                if op.stage == OperationStage.NEEDS_ATTENTION.value:
                    reason = f"KYC changed (record {inp.record_id}): re-check the policy refusal {op.error}"
                    await handle.signal(RETRY_SIGNAL, OperatorAction(reason=reason))
                    retried += 1
                else:
                    await handle.signal(dt.KYC_CHANGED_SIGNAL, dt.KycChanged(inp.user_id, inp.record_id))
                    signalled += 1
            except RPCError as exc:
                if exc.status != RPCStatusCode.NOT_FOUND:
                    raise
                log.info("deposit workflow %s is gone; not signalled", op.workflow_id)
        return t.NotifyResult(signalled=signalled, retried=retried)
