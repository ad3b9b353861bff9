"""Steps that escalate to a person instead of failing: stage ``needs_attention`` until an
operator sends ``retry`` or ``cancel`` (from the Temporal UI or the operator API).

A workflow class inherits :class:`OperatorControl` and runs side effects through
:meth:`OperatorControl.step`. An activity that fails past its retry budget (or with a
non-retryable infrastructure error) parks the workflow; a business failure listed in
``fail_on`` is re-raised at once instead, because no retry can fix it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

from workflows.stages import publish_stage

NEEDS_ATTENTION = "needs_attention"


@dataclass(frozen=True)
class OperatorAction:
    """Payload of the ``retry`` and ``cancel`` signals (``reason`` is audited by the API)."""

    reason: str = ""
    operator_id: str | None = None


class OperatorCancelled(Exception):
    """Raised inside the workflow when an operator cancels a parked step."""

    def __init__(self, action: OperatorAction):
        super().__init__(action.reason or "cancelled by an operator")
        self.action = action


def failure_type(err: ActivityError) -> str | None:
    """``ApplicationError.type`` of the activity's failure, if any."""
    cause = err.cause
    return cause.type if isinstance(cause, ApplicationError) else None


class OperatorControl:
    """Mixin: stage tracking, ``retry``/``cancel`` signals and the parking step runner."""

    def __init__(self) -> None:
        self.stage: str = "received"
        self.error: str | None = None
        self._action: tuple[str, OperatorAction] | None = None
        self._parked = False

    def set_stage(self, stage: str) -> None:
        self.stage = stage
        publish_stage(stage)

    @workflow.signal
    def retry(self, action: OperatorAction) -> None:
        """Retry the parked step (ignored when nothing is parked)."""
        if self._parked:
            self._action = ("retry", action)

    @workflow.signal
    def cancel(self, action: OperatorAction) -> None:
        """Give up the parked step; the workflow runs its compensation and ends cancelled."""
        if self._parked:
            self._action = ("cancel", action)

    async def step(
        self,
        activity: str,
        arg: Any,
        *,
        result_type: type | None = None,
        start_to_close: timedelta,
        retry: RetryPolicy,
        fail_on: Sequence[str] = (),
        on_park: Callable[[str], Any] | None = None,
        heartbeat: timedelta | None = None,
    ) -> Any:
        """Run ``activity``; on failure park at ``needs_attention`` until retry or cancel.

        Raises:
            ActivityError: the failure's type is in ``fail_on`` (a business outcome).
            OperatorCancelled: an operator cancelled the parked step.
        """
        while True:
            try:
                return await workflow.execute_activity(
                    activity, arg, result_type=result_type, start_to_close_timeout=start_to_close,
                    retry_policy=retry, heartbeat_timeout=heartbeat,
                )
            except ActivityError as err:
                kind = failure_type(err)
                if kind in fail_on:
                    raise
                workflow.logger.warning("step %s failed: %s", activity, kind or "activity_failed")
                await self.park(kind or "activity_failed", on_park=on_park, cause=err)

    async def park(
        self, error: str, *, on_park: Callable[[str], Any] | None = None, cause: BaseException | None = None
    ) -> None:
        """Stay at ``needs_attention`` with ``error`` until an operator sends ``retry`` (returns,
        the previous stage restored) or ``cancel`` (raises :class:`OperatorCancelled`)."""
        resumed_stage = self.stage
        self.error = error
        self._parked, self._action = True, None
        self.set_stage(NEEDS_ATTENTION)
        if on_park is not None:
            await on_park(self.error)
        workflow.logger.warning("parked for an operator: %s", self.error)
        await workflow.wait_condition(lambda: self._action is not None)
        verb, action = self._action  # type: ignore[misc]
        self._parked = False
        if verb == "cancel":
            raise OperatorCancelled(action) from cause
        self.error = None
        self.set_stage(resumed_stage)
