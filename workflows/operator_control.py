"""Steps that escalate to a person instead of failing: stage ``needs_attention`` until an
operator sends ``retry`` or ``cancel`` (from the Temporal UI or the operator API).

A workflow class inherits :class:`OperatorControl` and runs side effects through
:meth:`OperatorControl.step`. An activity that fails past its retry budget (or with a
non-retryable infrastructure error) parks the workflow; a business failure listed in
``fail_on`` is re-raised at once instead, because no retry can fix it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from contracts.operations import CANCEL_SIGNAL, RETRY_SIGNAL, OperatorAction

from workflows.stages import publish_stage

NEEDS_ATTENTION = "needs_attention"

ArgT = TypeVar("ArgT")
ResultT = TypeVar("ResultT")
#: A typed activity stub from ``contracts`` (or an implementation): one argument, awaitable result.
Activity = Callable[[ArgT], Awaitable[ResultT]]
#: What a workflow shows on its operation row when a step parks (gets the error code).
OnPark = Callable[[str], Awaitable[None]]


class OperatorCancelled(Exception):
    """Raised inside the workflow when an operator cancels a parked step."""

    def __init__(self, action: OperatorAction):
        super().__init__(action.reason or "cancelled by an operator")
        self.action = action


def activity_name(activity: Callable[..., Any]) -> str:
    """The name of an activity stub for logs (the stubs in ``contracts`` are named as registered)."""
    return str(getattr(activity, "__name__", activity))


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

    def _taken_action(self) -> tuple[str, OperatorAction]:
        """The operator's answer to a park (only called once one arrived)."""
        assert self._action is not None
        return self._action

    def set_stage(self, stage: str) -> None:
        """Show ``stage`` in the query state and in ``CustodyStage``."""
        self.stage = stage
        publish_stage(stage)

    @workflow.signal(name=RETRY_SIGNAL)
    def retry(self, action: OperatorAction) -> None:
        """Retry the parked step (ignored when nothing is parked)."""
        if self._parked:
            self._action = ("retry", action)

    @workflow.signal(name=CANCEL_SIGNAL)
    def cancel(self, action: OperatorAction) -> None:
        """Give up the parked step; the workflow runs its compensation and ends cancelled."""
        if self._parked:
            self._action = ("cancel", action)

    async def step(
        self,
        activity: Activity[ArgT, ResultT],
        arg: ArgT,
        *,
        start_to_close: timedelta,
        retry: RetryPolicy,
        fail_on: Sequence[str] = (),
        on_park: OnPark | None = None,
        heartbeat: timedelta | None = None,
    ) -> ResultT:
        """Run ``activity`` (a typed stub from ``contracts``) with ``arg``; on failure park at
        ``needs_attention`` until retry or cancel. The result has the stub's return type.

        Raises:
            ActivityError: the failure's type is in ``fail_on`` (a business outcome).
            OperatorCancelled: an operator cancelled the parked step.
        """
        while True:
            try:
                return await workflow.execute_activity(
                    activity, arg, start_to_close_timeout=start_to_close, retry_policy=retry,
                    heartbeat_timeout=heartbeat,
                )
            except ActivityError as err:
                kind = failure_type(err)
                if kind in fail_on:
                    raise
                workflow.logger.warning("step %s failed: %s", activity_name(activity), kind or "activity_failed")
                await self.park(kind or "activity_failed", on_park=on_park, cause=err)

    async def park(self, error: str, *, on_park: OnPark | None = None, cause: BaseException | None = None) -> None:
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
        verb, action = self._taken_action()
        self._parked = False
        if verb == "cancel":
            raise OperatorCancelled(action) from cause
        self.error = None
        self.set_stage(resumed_stage)
