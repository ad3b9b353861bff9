"""``DepositWorkflow`` (id ``deposit-<txid>:<vout>``): credit one BTC output with iSTSi, once.

Stages: received → verifying → awaiting_confirmations (durable-timer polls until the depth is
reached; a deposit that leaves the chain may come back within the reorg window, else it fails
``reorged``) → kyc_check (pause switch, tier, limits, on-chain approval; a refusal the user can fix
waits on the user at awaiting_kyc or awaiting_limits, see ``_policy``) → solvency_check (the
books' guard places the credit, pending) → minting (exactly once through the stored-envelope
submitter) → watching (the outpoint is watched for ``watch_blocks_after_mint`` more blocks;
vanishing holds the credit in the books: stage reorg_hold) → completed. A claim the chain
disproves fails with a code (``amount_mismatch``, ``no_output_to_address``, ``tx_not_found``,
``reorged``) and releases the outpoint.

The happy path runs six activities (the lean path, patch ``lean-deposit-path``): plan_deposit,
observe_deposit (once per depth poll), check_deposit_policy, check_deposit_solvency,
mint_deposit, credit_deposit. Each writes its own stage to the operations row (the projection)
with its audit row, in the transaction of its business effect; the workflow publishes the same
stage to ``CustodyStage``. Only parking, operator steering and a disproved or cancelled claim
use ``update_deposit_operation``. Runs started before the lean path (no patch marker) keep
their old command sequence: a separate update activity before each stage.

Messages: signals ``retry``/``cancel`` (``OperatorControl``) for a step parked in
``needs_attention``; signal ``kyc_changed`` (from the KYC workflow) wakes a deposit waiting on
its user; query ``get_state``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities import deposit_types as t
    from domain.deposits import DepositFailure, reorg_window_passed
    from domain.operations import OperationStage, OperationStatus
    from workflows.operator_control import NEEDS_ATTENTION, OperatorCancelled, OperatorControl

PLAN_TIMEOUT = timedelta(seconds=30)
PLAN_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30), maximum_attempts=10)
MINT_START_TO_CLOSE = timedelta(minutes=10)
MINT_HEARTBEAT = timedelta(seconds=5)
#: Terminal projection writes retry until Postgres answers: giving up would leave a wrong row.
FINAL_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30))
PRESENT = ("confirmed", "unconfirmed")
#: Patch id of the lean path: business activities write their own stages (see the module docstring).
LEAN_PATH = "lean-deposit-path"


class _ClaimFailed(Exception):
    """The chain disproved the claim (internal to the workflow; ends it as failed)."""

    def __init__(self, code: DepositFailure, detail: str):
        super().__init__(detail)
        self.code = code


@workflow.defn(name="DepositWorkflow")
class DepositWorkflow(OperatorControl):
    def __init__(self) -> None:
        super().__init__()
        self.status = OperationStatus.PENDING.value
        self.confirmations = 0
        self.required = 0
        self.stellar_tx_hash: str | None = None
        self._inp: t.DepositInput | None = None
        self._plan: t.DepositPlan | None = None
        self._row_parked = False
        self.waiting_for: str | None = None
        self._kyc_changed = False
        self._lean = False

    @workflow.run
    async def run(self, inp: t.DepositInput) -> t.DepositResult:
        self._inp = inp
        self._lean = workflow.patched(LEAN_PATH)
        try:
            # 1. fix the depth and timings (the lean plan also moves the row to verifying)
            if self._lean:
                self.set_stage(OperationStage.VERIFYING.value)
            self._plan = await self.step(
                t.PLAN, t.PlanInput(inp.operation_id, inp.amount_sats, project=self._lean), result_type=t.DepositPlan,
                start_to_close=PLAN_TIMEOUT, retry=PLAN_RETRY, on_park=self._park,
            )
            self.required = self._plan.required_confirmations
            if self._lean:
                self.status = OperationStatus.PROCESSING.value
            else:
                await self._stage(OperationStage.VERIFYING, OperationStatus.PROCESSING, required=self.required)
            # 2. verify the claim and wait for depth on the canonical chain
            observed = await self._await_depth(inp)
            # 3. policy: pause switch, KYC tier, limits, on-chain approval
            await self._enter(OperationStage.KYC_CHECK)
            await self._policy(inp)
            # 4. solvency guard
            await self._enter(OperationStage.SOLVENCY_CHECK)
            await self._call(t.CHECK_SOLVENCY, t.SolvencyInput(
                inp.operation_id, inp.txid, inp.vout, inp.amount_sats, project=self._lean,
            ))
            # 5. mint exactly once, then credit balance + operation + audit in one transaction
            await self._enter(OperationStage.MINTING)
            await self._mint_and_credit(inp, observed)
        except _ClaimFailed as failed:
            await self._finish(OperationStatus.FAILED, OperationStage.FAILED, failed.code.value, release=True)
            await workflow.wait_condition(workflow.all_handlers_finished)
            raise ApplicationError(str(failed), type=failed.code.value, non_retryable=True) from None
        except OperatorCancelled as cancelled:
            await self._finish(
                OperationStatus.CANCELLED, OperationStage.CANCELLED, self.error, action=cancelled.action,
            )
            await workflow.wait_condition(workflow.all_handlers_finished)
            return self._result()
        # 6. keep watching the outpoint for a while after the mint
        await self._watch(inp)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._result()

    # ---- stages ------------------------------------------------------------------------
    async def _await_depth(self, inp: t.DepositInput) -> t.DepositObservation:
        """Poll until the output is ``required`` blocks deep; raise _ClaimFailed when disproved."""
        plan = self._plan
        assert plan is not None
        ever_confirmed, missing_since = False, None
        while True:
            obs: t.DepositObservation = await self._call(
                t.OBSERVE,
                t.ObserveInput(inp.operation_id, inp.user_id, inp.txid, inp.vout, inp.amount_sats, project=self._lean),
                result_type=t.DepositObservation,
            )
            if obs.outcome == DepositFailure.AMOUNT_MISMATCH.value:
                raise _ClaimFailed(DepositFailure.AMOUNT_MISMATCH, f"output pays {obs.amount_sats} sats")
            if obs.outcome == DepositFailure.NO_OUTPUT_TO_ADDRESS.value:
                raise _ClaimFailed(DepositFailure.NO_OUTPUT_TO_ADDRESS, "output does not pay the deposit address")
            on_chain = obs.outcome == "confirmed"
            off_chain = obs.outcome not in PRESENT or (ever_confirmed and not on_chain)
            if off_chain:
                missing_since = obs.tip_height if missing_since is None else missing_since
                if reorg_window_passed(obs.tip_height, missing_since, plan.reorg_window_blocks):
                    code = DepositFailure.REORGED if ever_confirmed else DepositFailure.TX_NOT_FOUND
                    raise _ClaimFailed(code, f"off the chain for {plan.reorg_window_blocks} blocks")
            else:
                missing_since = None
            ever_confirmed = ever_confirmed or on_chain
            depth = obs.confirmations if on_chain else 0
            if self._lean:  # observe_deposit wrote the stage and depth to the row
                self.confirmations = depth
                if self.stage != OperationStage.AWAITING_CONFIRMATIONS:
                    self.set_stage(OperationStage.AWAITING_CONFIRMATIONS.value)
            elif self.stage != OperationStage.AWAITING_CONFIRMATIONS or depth != self.confirmations:
                self.confirmations = depth
                await self._stage(OperationStage.AWAITING_CONFIRMATIONS, confirmations=depth)
            if on_chain and depth >= self.required:
                return obs
            await workflow.sleep(timedelta(seconds=plan.poll_interval_seconds))

    async def _policy(self, inp: t.DepositInput) -> None:
        """Run the policy check; while minting is paused, wait and ask again.

        A refusal the user can fix waits on the user (``awaiting_kyc`` / ``awaiting_limits``,
        with ``waiting_for``) and asks again on ``kyc_changed`` or after ``recheck_seconds``; a KYC
        wait past ``max_wait_seconds`` parks at ``needs_attention`` (``kyc_wait_expired``).
        """
        assert self._plan is not None
        waited: bool = False
        deadline: datetime | None = None
        while True:
            self._kyc_changed = False  # a signal that arrives during the check below still counts
            result: t.PolicyResult = await self._call(
                t.CHECK_POLICY, t.PolicyInput(inp.operation_id, project=self._lean), result_type=t.PolicyResult
            )
            if result.wait_stage is not None and not result.paused:
                waited = True
                deadline = await self._wait_on_user(inp, result, deadline)
                continue
            # (on the lean path the check wrote its outcome to the row: the workflow only follows)
            if not result.paused:
                if waited:
                    self.waiting_for = None
                    if not self._lean:
                        await self._update(t.OperationUpdate(
                            inp.operation_id, stage=OperationStage.KYC_CHECK.value, clear_waiting=True,
                        ))
                    self.set_stage(OperationStage.KYC_CHECK.value)
                if self.error is not None:
                    self.error = None
                    if not self._lean:
                        await self._update(t.OperationUpdate(inp.operation_id, clear_error=True))
                return
            if self.error != "system_paused":
                self.error = "system_paused"
                if not self._lean:
                    await self._update(t.OperationUpdate(inp.operation_id, error="system_paused"))
            await workflow.sleep(timedelta(seconds=self._plan.poll_interval_seconds))

    async def _wait_on_user(
        self, inp: t.DepositInput, result: t.PolicyResult, deadline: datetime | None
    ) -> datetime | None:
        """Show the wait, then sleep until ``kyc_changed``, the re-check time or the deadline.

        Returns the KYC wait's deadline (None for a limit wait, and after an operator's retry).
        """
        now = workflow.now()
        if result.wait_stage != OperationStage.AWAITING_KYC.value:
            deadline = None
        elif deadline is None:
            deadline = now + timedelta(seconds=result.max_wait_seconds or 30 * 86_400)
        if deadline is not None and now >= deadline:
            await self._kyc_wait_expired(inp)
            return None
        if self.stage != result.wait_stage or self.waiting_for != result.waiting_for:
            if not self._lean:  # (the lean check wrote the wait to the row)
                await self._update(t.OperationUpdate(
                    inp.operation_id, stage=result.wait_stage, waiting_for=result.waiting_for,
                    wait_reason=result.wait_reason, clear_error=self.error is not None,
                ))
            self.waiting_for, self.error = result.waiting_for, None
            self.set_stage(result.wait_stage)
        timeout = timedelta(seconds=result.recheck_seconds or 3_600)
        if deadline is not None:
            timeout = min(timeout, max(timedelta(seconds=1), deadline - now))
        with contextlib.suppress(TimeoutError):  # a timeout is the periodic re-check
            await workflow.wait_condition(lambda: self._kyc_changed, timeout=timeout)
        return deadline

    async def _kyc_wait_expired(self, inp: t.DepositInput) -> None:
        """The user did not complete KYC in time: an operator refunds or credits (retry re-checks)."""
        self.waiting_for = None

        async def show(error: str) -> None:
            self._row_parked = True
            await workflow.execute_activity(
                t.UPDATE, t.OperationUpdate(inp.operation_id, stage=NEEDS_ATTENTION, error=error, clear_waiting=True),
                start_to_close_timeout=PLAN_TIMEOUT, retry_policy=FINAL_RETRY,
            )

        await self.park(t.KYC_WAIT_EXPIRED, on_park=show)

    @workflow.signal(name=t.KYC_CHANGED_SIGNAL)
    def kyc_changed(self, change: t.KycChanged) -> None:
        """The user's KYC changed: a deposit waiting on the user checks its policy again now."""
        self._kyc_changed = True

    async def _mint_and_credit(self, inp: t.DepositInput, observed: t.DepositObservation) -> None:
        assert self._plan is not None and observed.block_height is not None
        mint = t.MintInput(inp.operation_id, inp.txid, inp.vout, inp.amount_sats, observed.confirmations,
                           observed.block_height, project=self._lean)
        while True:
            try:
                minted: t.MintResult = await self.step(
                    t.MINT, mint, result_type=t.MintResult, start_to_close=MINT_START_TO_CLOSE, retry=self._retry(),
                    on_park=self._park, heartbeat=MINT_HEARTBEAT,
                )
                break
            except OperatorCancelled as cancelled:
                # A mint attempt may be on chain (the stored envelope can still land): cancelling
                # now could leave tokens without a credit. Refuse and park again on the next try.
                await self._update(t.OperationUpdate(
                    inp.operation_id, audit_action="deposit.cancel_refused",
                    actor_id=cancelled.action.operator_id, reason=cancelled.action.reason,
                ))
                if self._lean:  # the next try writes minting to the row again
                    self.error = None
                    self.set_stage(OperationStage.MINTING.value)
        await self._restore_if_parked()
        self.stellar_tx_hash = minted.stellar_tx_hash
        watching = self._plan.watch_blocks_after_mint > 0
        stage = OperationStage.WATCHING if watching else OperationStage.COMPLETED
        # Money moved: from here on the deposit can only complete, so the credit retries until done.
        await workflow.execute_activity(
            t.CREDIT, t.CreditInput(inp.operation_id, minted.stellar_tx_hash, stage.value),
            start_to_close_timeout=self._timeout(), retry_policy=FINAL_RETRY,
        )
        self.status = OperationStatus.COMPLETED.value
        self.set_stage(stage.value)

    async def _watch(self, inp: t.DepositInput) -> None:
        """Follow the outpoint for ``watch_blocks_after_mint`` blocks past the required depth."""
        plan = self._plan
        assert plan is not None
        if plan.watch_blocks_after_mint <= 0:
            return
        until = self.required + plan.watch_blocks_after_mint
        while True:
            await workflow.sleep(timedelta(seconds=plan.poll_interval_seconds))
            observe = t.ObserveInput(inp.operation_id, inp.user_id, inp.txid, inp.vout, inp.amount_sats,
                                     complete_at=until if self._lean else None)
            obs: t.DepositObservation = await workflow.execute_activity(
                t.OBSERVE, observe, result_type=t.DepositObservation, start_to_close_timeout=self._timeout(),
                retry_policy=FINAL_RETRY,
            )
            if obs.outcome != "confirmed":
                detail = f"outpoint {inp.txid}:{inp.vout} is {obs.outcome} at tip {obs.tip_height}"
                await workflow.execute_activity(
                    t.FLAG_VANISHED, t.FlagInput(inp.operation_id, detail),
                    start_to_close_timeout=self._timeout(), retry_policy=FINAL_RETRY,
                )
                # The books hold the credit now (the activity moved the row to stage reorg_hold); the
                # block scanner releases it when the output confirms again, or writes it off.
                self.error = "reorged_after_mint"
                self.set_stage(OperationStage.REORG_HOLD.value)
                return
            if obs.confirmations >= until:
                if self._lean:  # observe_deposit moved the row from watching to completed
                    self.set_stage(OperationStage.COMPLETED.value)
                else:
                    await self._stage(OperationStage.COMPLETED, confirmations=obs.confirmations)
                return

    # ---- helpers -----------------------------------------------------------------------
    def _timeout(self) -> timedelta:
        assert self._plan is not None
        return timedelta(seconds=self._plan.activity_timeout_seconds)

    def _retry(self) -> RetryPolicy:
        assert self._plan is not None
        return RetryPolicy(
            initial_interval=timedelta(seconds=1),
            backoff_coefficient=2.0,
            maximum_interval=timedelta(seconds=30),
            maximum_attempts=self._plan.activity_max_attempts,
            non_retryable_error_types=t.NON_RETRYABLE_TYPES,
        )

    async def _call(self, activity: str, arg: Any, *, result_type: type | None = None) -> Any:
        """One activity through ``OperatorControl.step``: past its retry budget it parks."""
        result = await self.step(
            activity, arg, result_type=result_type, start_to_close=self._timeout(), retry=self._retry(),
            on_park=self._park,
        )
        await self._restore_if_parked()
        return result

    async def park(
        self, error: str, *, on_park: Callable[[str], Any] | None = None, cause: BaseException | None = None
    ) -> None:
        """``OperatorControl.park``; on the lean path the row's stage is put back (audited) as soon
        as an operator retries, before the step runs again and writes its own stage."""
        await super().park(error, on_park=on_park, cause=cause)
        if self._lean:
            await self._restore_if_parked(resumed=True)

    async def _restore_if_parked(self, *, resumed: bool = False) -> None:
        """After an operator's ``retry`` let a parked step pass, put the row's stage back (audited).

        On the lean path only :meth:`park` restores (``resumed``): after the step the row already
        shows the step's own stage, which a late restore would overwrite."""
        if not self._row_parked or (self._lean and not resumed):
            return
        assert self._inp is not None
        self._row_parked = False
        action = self._action[1] if self._action else None
        await self._update(t.OperationUpdate(
            self._inp.operation_id, stage=self.stage, clear_error=True, audit_action="deposit.retried",
            actor_id=getattr(action, "operator_id", None), reason=getattr(action, "reason", None),
        ))

    async def _update(self, update: t.OperationUpdate) -> None:
        await self._call(t.UPDATE, update)

    async def _enter(self, stage: OperationStage) -> None:
        """Show ``stage`` before the step that works in it: on the lean path that step writes it to
        the row itself, so only ``CustodyStage`` and the query state move here."""
        if self._lean:
            self.set_stage(stage.value)
        else:
            await self._stage(stage)

    async def _stage(
        self, stage: OperationStage, status: OperationStatus | None = None, *,
        confirmations: int | None = None, required: int | None = None,
    ) -> None:
        """Write the stage to the operation row, then to ``CustodyStage`` and the query state."""
        assert self._inp is not None
        await self._update(t.OperationUpdate(
            self._inp.operation_id, stage=stage.value, status=status.value if status else None,
            confirmations=confirmations, required_confirmations=required,
        ))
        if status is not None:
            self.status = status.value
        self.set_stage(stage.value)

    async def _park(self, error: str) -> None:
        """Show a parked step on the operation row (best effort: the store may be what is down)."""
        assert self._inp is not None
        self._row_parked = True
        try:
            await workflow.execute_activity(
                t.UPDATE, t.OperationUpdate(self._inp.operation_id, stage=NEEDS_ATTENTION, error=error),
                start_to_close_timeout=PLAN_TIMEOUT, retry_policy=RetryPolicy(maximum_attempts=3),
            )
        except ActivityError:
            workflow.logger.warning("could not mark operation %s as needing attention", self._inp.operation_id)

    async def _finish(
        self, status: OperationStatus, stage: OperationStage, error: str | None, *,
        release: bool = False, action: Any = None,
    ) -> None:
        assert self._inp is not None
        update = t.OperationUpdate(
            self._inp.operation_id, stage=stage.value, status=status.value, error=error, release_outpoint=release,
            audit_action=f"deposit.{status.value}",
            actor_id=getattr(action, "operator_id", None), reason=getattr(action, "reason", None),
        )
        await workflow.execute_activity(
            t.UPDATE, update, start_to_close_timeout=PLAN_TIMEOUT, retry_policy=FINAL_RETRY
        )
        self.status, self.error = status.value, error
        self.set_stage(stage.value)

    def _result(self) -> t.DepositResult:
        assert self._inp is not None
        return t.DepositResult(self._inp.operation_id, self.status, self.stellar_tx_hash, self.error)

    @workflow.query
    def get_state(self) -> t.DepositState:
        return t.DepositState(
            stage=self.stage, status=self.status, confirmations=self.confirmations,
            required_confirmations=self.required, stellar_tx_hash=self.stellar_tx_hash, error=self.error,
            waiting_for=self.waiting_for,
        )
