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
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from contracts import deposits as t
    from contracts.operations import OperatorAction
    from domain.deposit_watch import DepositOutcome, DepthWatch, read_depth
    from domain.deposits import DepositFailure
    from domain.operations import OperationStage, OperationStatus
    from domain.polling import next_pause, unchanged_after
    from workflows.money_control import PLAN_TIMEOUT, MoneyControl
    from workflows.operator_control import Activity, OnPark, OperatorCancelled

#: ``_ClaimFailed`` details (``sats``: what the output pays; ``window``: the reorg window in blocks).
_FAILURE_DETAIL = {
    DepositFailure.AMOUNT_MISMATCH: "output pays {sats} sats",
    DepositFailure.NO_OUTPUT_TO_ADDRESS: "output does not pay the deposit address",
    DepositFailure.REORGED: "off the chain for {window} blocks",
    DepositFailure.TX_NOT_FOUND: "off the chain for {window} blocks",
}
#: Patch id of the lean path: business activities write their own stages (see the module docstring).
LEAN_PATH = "lean-deposit-path"


class _ClaimFailed(Exception):
    """The chain disproved the claim (internal to the workflow; ends it as failed)."""

    def __init__(self, code: DepositFailure, detail: str):
        super().__init__(detail)
        self.code = code


@workflow.defn(name=t.WORKFLOW)
class DepositWorkflow(MoneyControl[t.DepositPlan]):
    """One deposit, from a claimed outpoint to the credit (see the module docstring)."""

    KIND = "deposit"
    NON_RETRYABLE = t.NON_RETRYABLE_TYPES

    def __init__(self) -> None:
        super().__init__()
        self.confirmations = 0
        self.required = 0
        self.stellar_tx_hash: str | None = None
        self._inp: t.DepositInput | None = None
        self.waiting_for: str | None = None
        self._kyc_changed = False
        self._lean = False

    @workflow.run
    async def run(self, inp: t.DepositInput) -> t.DepositResult:
        """Credit the outpoint once; ends completed, failed (claim disproved) or cancelled."""
        self._inp = inp
        self._lean = workflow.patched(LEAN_PATH)
        try:
            # 1. fix the depth and timings (the lean plan also moves the row to verifying)
            if self._lean:
                self.set_stage(OperationStage.VERIFYING.value)
            plan = await self._read_plan(
                t.plan_deposit, t.PlanInput(inp.operation_id, inp.amount_sats, project=self._lean), show_park=True,
            )
            self.required = plan.required_confirmations
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
            await self._call(t.check_deposit_solvency, t.SolvencyInput(
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
        plan = self._plan_()
        watch = DepthWatch()
        seen: tuple[object, ...] | None = None
        unchanged = 0
        while True:
            obs = await self._call(
                t.observe_deposit,
                t.ObserveInput(inp.operation_id, inp.user_id, inp.txid, inp.vout, inp.amount_sats, project=self._lean),
            )
            reading = read_depth(watch, DepositOutcome(obs.outcome), obs.confirmations, obs.tip_height,
                                 required=self.required, reorg_window=plan.reorg_window_blocks)
            if reading.failure is not None:
                raise _ClaimFailed(reading.failure, _FAILURE_DETAIL[reading.failure].format(
                    sats=obs.amount_sats, window=plan.reorg_window_blocks))
            watch, depth = reading.watch, reading.depth
            if self._lean:  # observe_deposit wrote the stage and depth to the row
                self.confirmations = depth
                if self.stage != OperationStage.AWAITING_CONFIRMATIONS:
                    self.set_stage(OperationStage.AWAITING_CONFIRMATIONS.value)
            elif self.stage != OperationStage.AWAITING_CONFIRMATIONS or depth != self.confirmations:
                self.confirmations = depth
                await self._stage(OperationStage.AWAITING_CONFIRMATIONS, confirmations=depth)
            if reading.deep_enough:
                return obs
            # A transaction can sit in the mempool for days: back off while nothing moves.
            now = (obs.outcome, obs.confirmations, obs.tip_height)
            unchanged, seen = unchanged_after(seen, now, unchanged), now
            await workflow.sleep(timedelta(seconds=next_pause(plan.poll_interval_seconds, unchanged)))

    async def _policy(self, inp: t.DepositInput) -> None:
        """Run the policy check; while minting is paused, wait and ask again.

        A refusal the user can fix waits on the user (``awaiting_kyc`` / ``awaiting_limits``,
        with ``waiting_for``) and asks again on ``kyc_changed`` or after ``recheck_seconds``; a KYC
        wait past ``max_wait_seconds`` parks at ``needs_attention`` (``kyc_wait_expired``).
        """
        plan = self._plan_()
        waited: bool = False
        deadline: datetime | None = None
        paused_rounds = 0  # a pause can last days: back off (domain.polling) to keep the history short
        while True:
            self._kyc_changed = False  # a signal that arrives during the check below still counts
            result = await self._call(t.check_deposit_policy, t.PolicyInput(inp.operation_id, project=self._lean))
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
            await workflow.sleep(timedelta(seconds=next_pause(plan.poll_interval_seconds, paused_rounds)))
            paused_rounds += 1

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
        stage = result.wait_stage
        assert stage is not None  # (the caller waits on the user only when the check named a stage)
        if self.stage != stage or self.waiting_for != result.waiting_for:
            if not self._lean:  # (the lean check wrote the wait to the row)
                await self._update(t.OperationUpdate(
                    inp.operation_id, stage=stage, waiting_for=result.waiting_for,
                    wait_reason=result.wait_reason, clear_error=self.error is not None,
                ))
            self.waiting_for, self.error = result.waiting_for, None
            self.set_stage(stage)
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
            await self._final(t.update_deposit_operation, t.OperationUpdate(
                inp.operation_id, stage=OperationStage.NEEDS_ATTENTION.value, error=error, clear_waiting=True,
            ), start_to_close=PLAN_TIMEOUT)

        await self.park(t.KYC_WAIT_EXPIRED, on_park=show)

    @workflow.signal(name=t.KYC_CHANGED_SIGNAL)
    def kyc_changed(self, change: t.KycChanged) -> None:
        """The user's KYC changed: a deposit waiting on the user checks its policy again now."""
        self._kyc_changed = True

    async def _mint_and_credit(self, inp: t.DepositInput, observed: t.DepositObservation) -> None:
        assert observed.block_height is not None
        mint = t.MintInput(inp.operation_id, inp.txid, inp.vout, inp.amount_sats, observed.confirmations,
                           observed.block_height, project=self._lean)
        while True:
            try:
                minted = await self._call(t.mint_deposit, mint, chain=True)
                break
            except OperatorCancelled as cancelled:
                # A mint attempt may be on chain (the stored envelope can still land): cancelling
                # now could leave tokens without a credit. Refuse and park again on the next try.
                await self._refuse_cancel(cancelled)
                if self._lean:  # the next try writes minting to the row again
                    self.error = None
                    self.set_stage(OperationStage.MINTING.value)
        self.stellar_tx_hash = minted.stellar_tx_hash
        watching = self._plan_().watch_blocks_after_mint > 0
        stage = OperationStage.WATCHING if watching else OperationStage.COMPLETED
        # Money moved: from here on the deposit can only complete, so the credit retries until done.
        await self._final(t.credit_deposit, t.CreditInput(inp.operation_id, minted.stellar_tx_hash, stage.value))
        self.status = OperationStatus.COMPLETED.value
        self.set_stage(stage.value)

    async def _watch(self, inp: t.DepositInput) -> None:
        """Follow the outpoint for ``watch_blocks_after_mint`` blocks past the required depth."""
        plan = self._plan_()
        if plan.watch_blocks_after_mint <= 0:
            return
        until = self.required + plan.watch_blocks_after_mint
        while True:
            await workflow.sleep(timedelta(seconds=plan.poll_interval_seconds))
            observe = t.ObserveInput(inp.operation_id, inp.user_id, inp.txid, inp.vout, inp.amount_sats,
                                     complete_at=until if self._lean else None)
            obs = await self._final(t.observe_deposit, observe)
            if obs.outcome != DepositOutcome.CONFIRMED:
                detail = f"outpoint {inp.txid}:{inp.vout} is {obs.outcome} at tip {obs.tip_height}"
                await self._final(t.flag_vanished_deposit, t.FlagInput(inp.operation_id, detail))
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
    def _update_activity(self) -> Activity[t.OperationUpdate, None]:
        return t.update_deposit_operation

    def _operation_id(self) -> str:
        assert self._inp is not None
        return self._inp.operation_id

    async def park(self, error: str, *, on_park: OnPark | None = None, cause: BaseException | None = None) -> None:
        """``OperatorControl.park``; on the lean path the row's stage is put back (audited) as soon
        as an operator retries, before the step runs again and writes its own stage."""
        await super().park(error, on_park=on_park, cause=cause)
        if self._lean:
            await self._restore_if_parked(resumed=True)

    async def _restore_if_parked(self, *, resumed: bool = False) -> None:
        """After an operator's ``retry`` let a parked step pass, put the row's stage back (audited).

        On the lean path only :meth:`park` restores (``resumed``): after the step the row already
        shows the step's own stage, which a late restore would overwrite."""
        if self._lean and not resumed:
            return
        await super()._restore_if_parked()

    def _retried_update(self) -> t.OperationUpdate:
        action = self._action[1] if self._action else None
        return t.OperationUpdate(
            self._operation_id(), stage=self.stage, clear_error=True, audit_action="deposit.retried",
            actor_id=action.operator_id if action else None, reason=action.reason if action else None,
        )

    async def _enter(self, stage: OperationStage) -> None:
        """Show ``stage`` before the step that works in it: on the lean path that step writes it to
        the row itself, so only ``CustodyStage`` and the query state move here."""
        if self._lean:
            self.set_stage(stage.value)
        else:
            await self._stage(stage)

    async def _finish(
        self, status: OperationStatus, stage: OperationStage, error: str | None, *,
        release: bool = False, action: OperatorAction | None = None,
    ) -> None:
        """End the run's row (failed or cancelled) with its audit row; retried until written."""
        update = t.OperationUpdate(
            self._operation_id(), stage=stage.value, status=status.value, error=error, release_outpoint=release,
            audit_action=f"deposit.{status.value}",
            actor_id=action.operator_id if action else None, reason=action.reason if action else None,
        )
        await self._final(t.update_deposit_operation, update, start_to_close=PLAN_TIMEOUT)
        self.status, self.error = status.value, error
        self.set_stage(stage.value)

    def _result(self) -> t.DepositResult:
        assert self._inp is not None
        return t.DepositResult(self._inp.operation_id, self.status, self.stellar_tx_hash, self.error)

    @workflow.query(name=t.GET_STATE_QUERY)
    def get_state(self) -> t.DepositState:
        """Stage, status, depth and the mint's hash, for the API and operators."""
        return t.DepositState(
            stage=self.stage, status=self.status, confirmations=self.confirmations,
            required_confirmations=self.required, stellar_tx_hash=self.stellar_tx_hash, error=self.error,
            waiting_for=self.waiting_for,
        )
