"""``PayoutWorkflow`` (id ``payout-<payout id>``): one Bitcoin payout, a batch of withdrawals, from
its signatures to the version that confirmed.

Loop: follow the payout (``follow_payout``) → if its current version awaits signatures, wait for
them (update ``submit_signatures``, from the admin API) → broadcast a signed version (the stored
bytes) → once a version is confirmed ``withdrawals.payout_confirmations`` deep, settle it (the
books and the UTXO set follow that version) and end → while nothing confirms, bump after
``bitcoin.fee_bump_after_blocks`` blocks or when an operator asks (signal ``bump``). The
withdrawals of the batch follow the payout on their own (``join_payout_batch``) and complete
once it settled.

A payout abandoned before it was signed (one of its withdrawals left) ends the workflow; its
other withdrawals join the next batch. A step failing past its retry budget parks at
``needs_attention``; since money may be on its way, ``cancel`` is refused and only ``retry``
resumes it.

Messages: update ``submit_signatures`` (validated: a version awaits signatures), signal ``bump``
(``BumpRequest``), signals ``retry``/``cancel`` (``OperatorControl``), query ``get_state``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from contracts import payouts as t
    from contracts.operations import GET_STATE_QUERY
    from domain.payout_steering import PayoutStatus
    from domain.polling import FOLLOW_CAP_FACTOR, next_pause, unchanged_after
    from domain.withdrawal_stages import PAYOUT_ENDED, PayoutStage
    from workflows.operator_control import Activity, ArgT, OperatorCancelled, OperatorControl, ResultT, failure_type

PLAN_TIMEOUT = timedelta(seconds=30)
PLAN_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30), maximum_attempts=10)
NON_RETRYABLE = [t.INVALID_SIGNATURES, t.NOT_AWAITING_SIGNATURES, "payout_rejected", "withdrawal_state_conflict"]
#: Rounds of the loop before the workflow continues as new (keeps its history short).
ROUNDS_PER_RUN = 2_000
#: Patch: the loop also continues as new when the server suggests it (a long history).
SUGGESTED_CONTINUE_AS_NEW = "suggested-continue-as-new"


@workflow.defn(name=t.WORKFLOW)
class PayoutWorkflow(OperatorControl):
    """One payout: a batch transaction and its versions (see the module docstring)."""

    def __init__(self) -> None:
        super().__init__()
        self._plan: t.PayoutFlowPlan | None = None
        self._payout_id = ""
        self._progress: t.PayoutProgress | None = None
        self._bump: t.BumpRequest | None = None
        self._signatures = 0
        self._accepting = False

    @workflow.run
    async def run(self, inp: t.PayoutInput) -> t.PayoutResult:
        """Follow the payout until a version confirmed and settled, or it was abandoned."""
        self._payout_id = inp.payout_id
        ref = t.PayoutRef(inp.payout_id)
        self._plan = await workflow.execute_activity(t.plan_payout_flow, ref, start_to_close_timeout=PLAN_TIMEOUT,
                                                     retry_policy=PLAN_RETRY)
        unchanged = 0
        for _ in range(ROUNDS_PER_RUN):
            if workflow.info().is_continue_as_new_suggested() and self._bump is None \
                    and workflow.patched(SUGGESTED_CONTINUE_AS_NEW):  # (an operator's bump is taken first)
                break
            p = await self._call(t.follow_payout, ref)
            unchanged = unchanged_after(self._progress, p, unchanged)
            self._progress = p
            if p.status in PAYOUT_ENDED:
                self.set_stage(PayoutStage(p.status))
                return await self._result(p)
            if p.winner is not None:
                self.set_stage(PayoutStage.AWAITING_PAYOUT_CONFIRMATIONS)
                if p.confirmations >= self._plan_().payout_confirmations:
                    assert p.block_height is not None
                    self.set_stage(PayoutStage.SETTLING)
                    await self._call(t.settle_payout, t.SettleInput(inp.payout_id, p.winner, p.block_height,
                                                                   p.confirmations))
                    continue
            elif p.current_status == PayoutStatus.AWAITING_SIGNATURE:
                self.set_stage(PayoutStage.SIGNING)
                await self._wait(self._signed_since(self._signatures), long=True)
                continue
            elif p.current_status == PayoutStatus.SIGNED:
                self.set_stage(PayoutStage.PAYING_OUT)
                await self._call(t.broadcast_payout_version, t.BroadcastInput(inp.payout_id, p.current_version))
                continue
            elif p.bump_due or self._bump is not None:
                request, self._bump = self._bump, None
                self.set_stage(PayoutStage.BUMPING)
                result = await self._call(t.bump_payout, t.BumpInput(inp.payout_id, p.current_version, request))
                if result.version is not None:
                    continue
            else:
                self.set_stage(PayoutStage.AWAITING_PAYOUT_CONFIRMATIONS)
            await self._wait(lambda: self._bump is not None, unchanged=unchanged)
        await workflow.wait_condition(workflow.all_handlers_finished)
        workflow.continue_as_new(inp)

    # ---- helpers -------------------------------------------------------------------------------
    def _plan_(self) -> t.PayoutFlowPlan:
        assert self._plan is not None
        return self._plan

    def _signed_since(self, seen: int) -> Callable[[], bool]:
        """A wait condition: a signature arrived after the ``seen``-th one."""
        return lambda: self._signatures != seen

    async def _wait(self, condition: Callable[[], bool], *, long: bool = False, unchanged: int = 0) -> None:
        """Wait for ``condition`` or the next poll: 10 intervals for people (``long``), else an
        interval backed off by the rounds that saw no change (:func:`domain.polling.next_pause`)."""
        poll = self._plan_().poll_interval_seconds
        pause = poll * 10 if long else next_pause(poll, unchanged, cap_factor=FOLLOW_CAP_FACTOR)
        with contextlib.suppress(TimeoutError):
            await workflow.wait_condition(condition, timeout=timedelta(seconds=pause))

    def _retry(self) -> RetryPolicy:
        return RetryPolicy(initial_interval=timedelta(seconds=1), backoff_coefficient=2.0,
                           maximum_interval=timedelta(seconds=30), maximum_attempts=self._plan_().activity_max_attempts,
                           non_retryable_error_types=NON_RETRYABLE)

    async def _call(self, activity: Activity[ArgT, ResultT], arg: ArgT) -> ResultT:
        """One step; past its retry budget it parks, and a cancel is refused (money may move)."""
        while True:
            try:
                return await self.step(activity, arg, retry=self._retry(),
                                       start_to_close=timedelta(seconds=self._plan_().activity_timeout_seconds))
            except OperatorCancelled:
                workflow.logger.warning("payout %s: a cancel is refused once a payout exists", self._payout_id)

    async def _result(self, p: t.PayoutProgress) -> t.PayoutResult:
        await workflow.wait_condition(workflow.all_handlers_finished)
        return t.PayoutResult(self._payout_id, p.status, p.txid, p.winner)

    # ---- messages ------------------------------------------------------------------------------
    @workflow.signal(name=t.BUMP_SIGNAL)
    def bump(self, request: t.BumpRequest) -> None:
        """An operator asks for a bump now (ignored once a version confirmed)."""
        self._bump = request

    @workflow.update(name=t.SUBMIT_SIGNATURES_UPDATE)
    async def submit_signatures(self, inp: t.SignaturesInput) -> t.SignaturesResult:
        """A signer's partially signed PSBT: checked, merged and (at the quorum) finalized by an activity."""
        self._accepting = True
        try:
            result = await workflow.execute_activity(
                t.accept_payout_signatures, inp,
                start_to_close_timeout=timedelta(seconds=self._plan_().activity_timeout_seconds),
                retry_policy=self._retry(),
            )
        except ActivityError as err:
            cause = err.cause
            details = list(cause.details) if isinstance(cause, ApplicationError) else []
            raise ApplicationError(str(cause.message if isinstance(cause, ApplicationError) else err),
                                   *details, type=failure_type(err) or "activity_failed") from None
        finally:
            self._accepting = False
        self._signatures += 1
        return result

    @submit_signatures.validator
    def _validate_signatures(self, inp: t.SignaturesInput) -> None:
        # Not ready yet (the first follow of a new batch has not run, or another signer's PSBT is
        # being merged) is a passing state the API waits out; "awaits no signature" is final.
        if self._plan is None or self._accepting or self._progress is None:
            raise ApplicationError("the payout is not ready for signatures; try again", type=t.NOT_READY)
        p = self._progress
        if p.status in PAYOUT_ENDED or p.winner is not None:
            raise ValueError("this payout awaits no signature")

    @workflow.query(name=GET_STATE_QUERY)
    def get_state(self) -> dict[str, object]:
        """Stage, payout, status, current version, txid, depth and error."""
        p = self._progress
        return {"stage": self.stage, "payout_id": self._payout_id, "status": p.status if p else None,
                "current_version": p.current_version if p else None, "txid": p.txid if p else None,
                "confirmations": p.confirmations if p else 0, "error": self.error}
