"""The base of both money workflows (deposit and withdrawal): how they run steps, write stages
to their operation row, park for an operator and retry.

A subclass names its audit prefix (:attr:`MoneyControl.KIND`) and its non-retryable error types,
and implements :meth:`MoneyControl._update_activity`, :meth:`MoneyControl._operation_id` and
:meth:`MoneyControl._retried_update`; it keeps only its own process. Every step goes through :meth:`OperatorControl.step`: past its retry budget it parks at
``needs_attention`` and shows that on the row (best effort), and after an operator's ``retry``
let it pass, the row's stage is put back (audited).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import ClassVar, Generic, Protocol, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from contracts.operations import OperationUpdate
    from domain.operations import OperationStage, OperationStatus

from workflows.operator_control import Activity, ArgT, OperatorCancelled, OperatorControl, ResultT

#: Reading the plan (configuration captured once per run).
PLAN_TIMEOUT = timedelta(seconds=30)
PLAN_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30), maximum_attempts=10)
#: Steps that talk to a chain (mint, burn, complete, cancel): long, heartbeating.
CHAIN_START_TO_CLOSE = timedelta(minutes=10)
CHAIN_HEARTBEAT = timedelta(seconds=5)
#: Terminal projection writes retry until Postgres answers: giving up would leave a wrong row.
FINAL_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30))
#: Showing a parked step on the row is best effort (the store may be what is down).
PARK_RETRY = RetryPolicy(maximum_attempts=3)


class ActivityBudget(Protocol):
    """What a money workflow's plan fixes for every step: timeout (seconds) and attempts."""

    @property
    def activity_timeout_seconds(self) -> float:
        """Start-to-close timeout of one step, in seconds."""
        ...

    @property
    def activity_max_attempts(self) -> int:
        """Attempts of one step before it parks for an operator."""
        ...


PlanT = TypeVar("PlanT", bound=ActivityBudget)


class MoneyControl(OperatorControl, Generic[PlanT]):
    """Stage writes, parking, retry policies and the plan of one operation's workflow."""

    #: Audit action prefix (``deposit``, ``withdrawal``).
    KIND: ClassVar[str]
    #: ``ApplicationError.type`` values never retried automatically.
    NON_RETRYABLE: ClassVar[Sequence[str]]

    def __init__(self) -> None:
        super().__init__()
        self.status = OperationStatus.PENDING.value
        self._plan: PlanT | None = None
        self._row_parked = False

    # ---- what the subclass knows -----------------------------------------------------------
    def _update_activity(self) -> Activity[OperationUpdate, None]:
        """The workflow's projection activity stub (``update_<kind>_operation``)."""
        raise NotImplementedError

    def _operation_id(self) -> str:
        """The operation this run works on (from its start input)."""
        raise NotImplementedError

    def _retried_update(self) -> OperationUpdate:
        """The audited row change after an operator's ``retry`` let a parked step pass."""
        raise NotImplementedError

    # ---- plan and policies -----------------------------------------------------------------
    def _plan_(self) -> PlanT:
        assert self._plan is not None
        return self._plan

    async def _read_plan(self, activity: Activity[ArgT, PlanT], arg: ArgT, *, show_park: bool) -> PlanT:
        """Fetch the run's plan (parks past :data:`PLAN_RETRY`; ``show_park``: on the row too)."""
        self._plan = await self.step(
            activity, arg, start_to_close=PLAN_TIMEOUT, retry=PLAN_RETRY, on_park=self._park if show_park else None,
        )
        return self._plan

    def _timeout(self) -> timedelta:
        return timedelta(seconds=self._plan_().activity_timeout_seconds)

    def _retry(self) -> RetryPolicy:
        return RetryPolicy(
            initial_interval=timedelta(seconds=1), backoff_coefficient=2.0, maximum_interval=timedelta(seconds=30),
            maximum_attempts=self._plan_().activity_max_attempts, non_retryable_error_types=list(self.NON_RETRYABLE),
        )

    # ---- steps -----------------------------------------------------------------------------
    async def _call(
        self, activity: Activity[ArgT, ResultT], arg: ArgT, *, fail_on: Sequence[str] = (), chain: bool = False
    ) -> ResultT:
        """One activity through ``OperatorControl.step``: past its retry budget it parks.

        ``chain``: a chain step (long timeout, heartbeats). Raises what ``step`` raises.
        """
        result = await self.step(
            activity, arg, retry=self._retry(), fail_on=fail_on, on_park=self._park,
            start_to_close=CHAIN_START_TO_CLOSE if chain else self._timeout(),
            heartbeat=CHAIN_HEARTBEAT if chain else None,
        )
        await self._restore_if_parked()
        return result

    async def _final(
        self, activity: Activity[ArgT, ResultT], arg: ArgT, *, start_to_close: timedelta | None = None
    ) -> ResultT:
        """A step that must happen (money moved, or a terminal row write): retried until done."""
        return await workflow.execute_activity(
            activity, arg, start_to_close_timeout=start_to_close or self._timeout(), retry_policy=FINAL_RETRY,
        )

    async def _restore_if_parked(self) -> None:
        """After an operator's ``retry`` let a parked step pass, put the row's stage back (audited)."""
        if not self._row_parked:
            return
        self._row_parked = False
        await self._update(self._retried_update())

    async def _park(self, error: str) -> None:
        """Show a parked step on the operation row (best effort: the store may be what is down)."""
        self._row_parked = True
        try:
            await workflow.execute_activity(
                self._update_activity(), OperationUpdate(self._operation_id(), stage=OperationStage.NEEDS_ATTENTION.value, error=error),
                start_to_close_timeout=PLAN_TIMEOUT, retry_policy=PARK_RETRY,
            )
        except ActivityError:
            workflow.logger.warning("could not mark %s %s as needing attention", self.KIND, self._operation_id())

    # ---- the operation row -----------------------------------------------------------------
    async def _update(self, update: OperationUpdate) -> None:
        await self._call(self._update_activity(), update)

    async def _stage(
        self, stage: OperationStage, status: OperationStatus | None = None, *,
        confirmations: int | None = None, required: int | None = None,
    ) -> None:
        """Write the stage to the operation row, then to ``CustodyStage`` and the query state."""
        await self._update(OperationUpdate(
            self._operation_id(), stage=stage.value, status=status.value if status else None,
            confirmations=confirmations, required_confirmations=required,
        ))
        if status is not None:
            self.status = status.value
        self.set_stage(stage.value)

    async def _refuse_cancel(self, cancelled: OperatorCancelled) -> None:
        """Money moved: an operator's cancel of this step is refused, and the refusal audited."""
        await self._update(OperationUpdate(
            self._operation_id(), audit_action=f"{self.KIND}.cancel_refused",
            actor_id=cancelled.action.operator_id, reason=cancelled.action.reason,
        ))
