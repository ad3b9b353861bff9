"""``WithdrawalWorkflow`` (id ``withdrawal-<operation id>``): redeem iSTSi for BTC, once.

Stages: received → kyc_check (pause switch, tier, limits, on-chain approval; waits while paused)
→ reserving (the hold in ``reserved_balance``) → awaiting_approval (amounts at or above the
threshold; an operator approves or rejects, the approval timeout cancels) → burning (router
``execute_token_withdrawal``, exactly once) → awaiting_batch (queued for the next payout batch,
``join_payout_batch``) → signing (the batch's PSBT waits for its quorum) → paying_out →
awaiting_payout_confirmations (``PayoutWorkflow`` broadcasts, follows, bumps and settles the
batch) → settling (router ``complete_withdrawal`` with the txid that confirmed, then the books,
operation and audit in one transaction) → completed.

Before patch ``payout-batches`` a withdrawal built, signed and broadcast a payout of its own
(signing → paying_out → awaiting_payout_confirmations); histories of that path still replay.

Compensation: before the burn, a refusal, rejection, timeout or cancel releases the hold. A
payout that cannot be built or signed after the burn, and a cancel (operator or user) before the
batch is signed, take the withdrawal out of its batch and cancel it on chain (re-mint), crediting
the tokens back (stage compensating). Once a payout is signed nothing is compensated: trouble
parks the step at ``needs_attention`` and an operator's ``cancel`` is refused.

Messages: update ``decide`` (validated: awaiting approval, reason given, approver is not the
requester) and signal ``decide_signal`` for the Temporal UI; update ``cancel_by_user`` (before
the burn, or while the batch is not signed); update ``submit_signed_psbt`` (external signer of
the pre-batch path; batches take signatures on ``PayoutWorkflow``); signals ``retry``/``cancel``
(``OperatorControl``); query ``get_state``.
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from contracts import payouts as pt
    from contracts import search_attributes as sa
    from contracts import withdrawals as t
    from contracts.operations import OperatorAction
    from domain.decisions import DecisionKind
    from domain.operations import OperationStage as S
    from domain.operations import OperationStatus
    from domain.polling import FOLLOW_CAP_FACTOR, next_pause, unchanged_after
    from domain.withdrawal_stages import batch_stage, final_stage
    from domain.withdrawals import ApprovalDecision, UserCancel, validate_decision
    from workflows.money_control import MoneyControl
    from workflows.operator_control import Activity, ArgT, OperatorCancelled, ResultT, failure_type

#: Patch: the payout is a batch's (join_payout_batch) instead of one of the withdrawal's own.
PAYOUT_BATCHES = "payout-batches"
#: Patch: a withdrawal following its batch continues as new when its history grows long.
BATCH_CONTINUE_AS_NEW = "batch-continue-as-new"


class _Ended(Exception):
    """The withdrawal ends before the burn (internal): final status, error code, who decided."""

    def __init__(self, status: OperationStatus, error: str, actor_id: str | None = None, reason: str | None = None):
        super().__init__(error)
        self.status, self.error, self.actor_id, self.reason = status, error, actor_id, reason


@workflow.defn(name=t.WORKFLOW)
class WithdrawalWorkflow(MoneyControl[t.WithdrawalPlan]):
    """One withdrawal, from the policy check to the settled payout (see the module docstring)."""

    KIND = "withdrawal"
    NON_RETRYABLE = t.NON_RETRYABLE_TYPES

    def __init__(self) -> None:
        super().__init__()
        self.stellar_tx_hash: str | None = None
        self.btc_txid: str | None = None
        self.confirmations = 0
        self._inp: t.WithdrawalInput | None = None
        self._decision: ApprovalDecision | None = None
        self._user_cancel: UserCancel | None = None
        self._burn_started = False
        self._awaiting_signature = False
        self._accepting = False
        self._signed = False
        self._batch_cancellable = False

    @workflow.run
    async def run(self, inp: t.WithdrawalInput) -> t.WithdrawalResult:
        """Redeem once; ends completed, failed or cancelled (compensated where money moved)."""
        self._inp = inp
        ref = t.OperationRef(inp.operation_id)
        await self._read_plan(t.plan_withdrawal, inp, show_park=False)
        known: str | None = None
        if inp.in_batch:  # continued as new while following its batch: burned already
            self._burn_started = True
            self.stellar_tx_hash, self.btc_txid = inp.stellar_tx_hash, inp.btc_txid
            self.status, known = OperationStatus.PROCESSING.value, inp.payout_id
        else:
            try:
                await self._before_burn(ref)
            except _Ended as ended:
                await self._release(ended)
                return await self._result()
        if inp.in_batch or workflow.patched(PAYOUT_BATCHES):
            try:
                depth = await self._join_batch(ref, known, cancellable=inp.batch_cancellable if inp.in_batch else True)
            except (_Ended, OperatorCancelled) as stopped:
                await self._compensate(ref, stopped)
                return await self._result()
            await self._complete_and_settle(ref, depth)
            return await self._result()
        try:
            await self._prepare_payout(ref)
        except (_Ended, OperatorCancelled) as stopped:
            await self._compensate(ref, stopped)
            return await self._result()
        await self._pay_and_settle(ref)
        return await self._result()

    # ---- before the burn: policy, hold, approval, burn -----------------------------------
    async def _before_burn(self, ref: t.OperationRef) -> None:
        try:
            await self._stage(S.KYC_CHECK, OperationStatus.PROCESSING)
            paused_rounds = 0  # a pause can last days: back off (domain.polling) to keep the history short
            while (await self._call(t.check_withdrawal_policy, ref, fail_on=t.REFUSALS)).paused:  # wait while paused
                pause = next_pause(self._plan_().poll_interval_seconds, paused_rounds)
                await self._wait_or_user_cancel(timedelta(seconds=pause))
                paused_rounds += 1
            self._check_user_cancel()
            await self._stage(S.RESERVING)
            await self._call(t.hold_withdrawal_balance, ref, fail_on=t.REFUSALS)
            if self._plan_().needs_approval:
                await self._await_approval()
            self._check_user_cancel()
            self._burn_started = True  # from here on the user cannot cancel
            await self._stage(S.BURNING)
            burned = await self._burn(ref)
            self.stellar_tx_hash = burned.stellar_tx_hash
        except ActivityError as err:
            raise _Ended(OperationStatus.FAILED, failure_type(err) or "activity_failed") from err
        except OperatorCancelled as cancelled:
            who = self._user_cancel
            if who is not None:
                raise _Ended(OperationStatus.CANCELLED, "cancelled_by_user", who.user_id, who.reason) from None
            action = cancelled.action
            raise _Ended(OperationStatus.CANCELLED, "cancelled_by_operator", action.operator_id, action.reason) from None

    async def _burn(self, ref: t.OperationRef) -> t.BurnResult:
        """The burn step; an operator's cancel is honoured only if the release proves nothing burned."""
        while True:
            try:
                return await self._call(t.burn_withdrawal_tokens, ref, fail_on=t.REFUSALS, chain=True)
            except OperatorCancelled as cancelled:
                try:
                    await workflow.execute_activity(
                        t.release_withdrawal, self._finish_input(_Ended(OperationStatus.CANCELLED, "cancelled_by_operator",
                                                                        cancelled.action.operator_id, cancelled.action.reason)),
                        start_to_close_timeout=self._timeout(), retry_policy=self._retry(),
                    )
                except ActivityError:
                    await self._refuse_cancel(cancelled)
                    continue
                self.status, self.error = OperationStatus.CANCELLED.value, "cancelled_by_operator"
                self.set_stage(S.CANCELLED)
                raise _Ended(OperationStatus.CANCELLED, "released") from None

    async def _await_approval(self) -> None:
        await self._stage(S.AWAITING_APPROVAL)
        plan = self._plan_()
        try:
            await workflow.wait_condition(
                lambda: self._decision is not None or self._user_cancel is not None,
                timeout=timedelta(seconds=plan.approval_timeout_seconds),
            )
        except TimeoutError:
            raise _Ended(OperationStatus.CANCELLED, "approval_timeout") from None
        self._check_user_cancel()
        decision = self._decision
        assert decision is not None
        if decision.decision == DecisionKind.REJECT:
            raise _Ended(OperationStatus.FAILED, "rejected", decision.approver_id, decision.reason)
        await self._update(t.OperationUpdate(
            self._ref().operation_id, audit_action="withdrawal.approved", actor_id=decision.approver_id, reason=decision.reason,
        ))

    async def _release(self, ended: _Ended) -> None:
        if self.status in (OperationStatus.CANCELLED.value, OperationStatus.FAILED.value):
            return  # released already (operator cancel during the burn step)
        await self._final(t.release_withdrawal, self._finish_input(ended))
        self.status, self.error = ended.status.value, ended.error
        self.set_stage(final_stage(ended.status))

    # ---- after the burn: payout, compensation ----------------------------------------------
    async def _prepare_payout(self, ref: t.OperationRef) -> None:
        await self._stage(S.SIGNING)
        while True:
            try:
                payout = await self._call(t.prepare_withdrawal_payout, ref, fail_on=(t.PAYOUT_UNBUILDABLE,))
            except ActivityError as err:
                raise _Ended(OperationStatus.FAILED, "payout_failed") from err
            if payout.status != t.FUNDS_PENDING:
                break
            await workflow.sleep(timedelta(seconds=self._plan_().poll_interval_seconds))  # change confirms
        self.btc_txid = payout.txid
        if payout.status == "awaiting_signature":
            # Waiting for people: an operator's ``cancel`` signal is accepted like a parked step's.
            self._awaiting_signature, self._parked, self._action = True, True, None
            await workflow.wait_condition(lambda: self._signed or (self._action is not None and self._action[0] == "cancel"))
            self._awaiting_signature, self._parked = False, False
            if not self._signed:
                assert self._action is not None
                raise OperatorCancelled(self._action[1])

    # ---- after the burn, in a batch ----------------------------------------------------------------
    def _cancel_asked(self) -> bool:
        return self._user_cancel is not None or (self._action is not None and self._action[0] == "cancel")

    async def _join_batch(self, ref: t.OperationRef, known: str | None, *, cancellable: bool) -> pt.ItemState:
        """Queue for a batch and follow it until the payout settled; returns the settled state.

        ``known``: the payout this withdrawal is in, if a previous run saw it; ``cancellable``:
        whether the user may cancel before the first answer (a fresh join queues; a resumed run
        carries the last answer's, so a cancel is not refused in between). Polls back off
        while nothing changes (:func:`domain.polling.next_pause`); a run whose history grew long
        (the server suggests it) continues as new at a quiet point between polls.

        Raises:
            _Ended: the payout cannot include this withdrawal (``payout_failed``), or the user
                cancelled before the batch was signed.
            OperatorCancelled: an operator cancelled before the batch was signed.
        """
        plan = self._plan_()
        self._batch_cancellable = cancellable
        seen: tuple[object, ...] | None = None
        unchanged = 0
        while True:
            if workflow.info().is_continue_as_new_suggested() and workflow.patched(BATCH_CONTINUE_AS_NEW):
                await self._continue_in_batch(known)
            try:
                state = await self._call(pt.join_payout_batch, pt.JoinInput(ref.operation_id, known),
                                         fail_on=(t.PAYOUT_UNBUILDABLE,))
            except ActivityError as err:
                self._batch_cancellable = False
                raise _Ended(OperationStatus.FAILED, "payout_failed") from err
            except OperatorCancelled as cancelled:  # the step was parked and an operator gave it up
                self._action = ("cancel", cancelled.action)
                await self._leave_batch(ref)
                continue
            known = state.payout_id or known
            if state.status == pt.FAILED:
                self._batch_cancellable = False
                raise _Ended(OperationStatus.FAILED, "payout_failed")
            if state.status == pt.CANCELLED:  # taken out of its batch (by a compensation elsewhere)
                self._batch_cancellable = False
                raise _Ended(OperationStatus.CANCELLED, "cancelled_by_operator")
            # Cancellable while its payout is unsigned (an abandoned payout queues its items again).
            self._batch_cancellable = state.status in (pt.QUEUED, pt.AWAITING_SIGNATURE)
            if not self._batch_cancellable:
                self._parked = False
            if state.txid and state.txid != self.btc_txid and state.status in (pt.BROADCAST, pt.CONFIRMED):
                self.btc_txid = state.txid
                if workflow.info().typed_search_attributes.get(sa.STAGE) is not None:
                    workflow.upsert_search_attributes([sa.BTC_TXID.value_set(state.txid)])
            if state.status == pt.CONFIRMED:
                return state
            stage = batch_stage(state.status)
            if stage != self.stage or state.confirmations != self.confirmations:
                self.confirmations = state.confirmations
                await self._stage(stage, confirmations=state.confirmations if stage == S.AWAITING_PAYOUT_CONFIRMATIONS
                                  else None, required=plan.payout_confirmations if stage ==
                                  S.AWAITING_PAYOUT_CONFIRMATIONS else None)
            now = (state.status, state.payout_id, state.txid, state.confirmations)
            unchanged, seen = unchanged_after(seen, now, unchanged), now
            pause = next_pause(plan.poll_interval_seconds, unchanged, cap_factor=FOLLOW_CAP_FACTOR)
            if state.status == pt.QUEUED and state.due_in_seconds is not None:  # be there when it closes
                pause = min(pause, max(state.due_in_seconds, plan.poll_interval_seconds))
            if self._batch_cancellable:
                self._parked, self._action = True, None  # waiting for the batch: a cancel is taken
            try:
                await workflow.wait_condition(lambda: self._batch_cancellable and self._cancel_asked(),
                                              timeout=timedelta(seconds=pause))
            except TimeoutError:
                continue
            await self._leave_batch(ref)

    async def _continue_in_batch(self, known: str | None) -> None:
        """Continue as new, still in the batch: the new run's input carries what this one knows."""
        await workflow.wait_condition(workflow.all_handlers_finished)
        if self._batch_cancellable and self._cancel_asked():
            return  # a cancel arrived meanwhile: this run handles it first
        assert self._inp is not None
        workflow.continue_as_new(dataclasses.replace(
            self._inp, in_batch=True, stellar_tx_hash=self.stellar_tx_hash, payout_id=known, btc_txid=self.btc_txid,
            batch_cancellable=self._batch_cancellable))

    async def _leave_batch(self, ref: t.OperationRef) -> None:
        """A cancel before the batch is signed: leave it, then end cancelled (compensated)."""
        user, action = self._user_cancel, self._action
        actor = user.user_id if user else (action[1].operator_id if action else None)
        reason = user.reason if user else (action[1].reason if action else "")
        self._parked = False
        left = await self._must(pt.leave_payout_batch, pt.LeaveInput(ref.operation_id, reason or "", actor))
        if not left.left:  # signed meanwhile: the payout goes out, the cancel is refused
            self._batch_cancellable, self._user_cancel, self._action = False, None, None
            await self._update(t.OperationUpdate(ref.operation_id, audit_action="withdrawal.cancel_refused",
                                                 actor_id=actor, reason=reason))
            return
        self._batch_cancellable = False
        if user is not None:
            raise _Ended(OperationStatus.CANCELLED, "cancelled_by_user", user.user_id, user.reason)
        assert action is not None
        raise OperatorCancelled(action[1])

    async def _complete_and_settle(self, ref: t.OperationRef, settled: pt.ItemState) -> None:
        """The batch settled: complete on chain with the txid that confirmed, then the books."""
        await self._stage(S.SETTLING)
        assert settled.txid is not None
        self.btc_txid, self.confirmations = settled.txid, settled.confirmations
        await self._must(t.complete_withdrawal_on_chain, t.CompleteInput(ref.operation_id, settled.txid), chain=True)
        await self._final(t.settle_withdrawal, t.SettleInput(
            ref.operation_id, settled.txid, settled.confirmations, settled.block_height,
        ))
        self.status = OperationStatus.COMPLETED.value
        self.set_stage(S.COMPLETED)

    async def _compensate(self, ref: t.OperationRef, stopped: Exception) -> None:
        """Cancel on chain (re-mint) and credit back; never after a payout was signed."""
        if isinstance(stopped, OperatorCancelled):
            status, error = OperationStatus.CANCELLED, "cancelled_by_operator"
            actor, reason = stopped.action.operator_id, stopped.action.reason
        else:
            assert isinstance(stopped, _Ended)
            status, error, actor, reason = stopped.status, stopped.error, None, None
        await self._stage(S.COMPENSATING)
        await self._must(t.cancel_withdrawal_on_chain, ref, chain=True)
        await self._must(t.recredit_cancelled_withdrawal, t.FinishInput(
            ref.operation_id, status.value, final_stage(status).value, error, actor, reason,
        ))
        self.status, self.error = status.value, error
        self.set_stage(final_stage(status))

    async def _pay_and_settle(self, ref: t.OperationRef) -> None:
        plan = self._plan_()
        await self._stage(S.PAYING_OUT)
        self.btc_txid = await self._must(t.broadcast_withdrawal_payout, ref)
        if workflow.info().typed_search_attributes.get(sa.STAGE) is not None:
            workflow.upsert_search_attributes([sa.BTC_TXID.value_set(self.btc_txid)])
        await self._stage(S.AWAITING_PAYOUT_CONFIRMATIONS, confirmations=0, required=plan.payout_confirmations)
        while True:
            depth = await self._must(t.check_withdrawal_payout, ref)
            if depth.confirmations != self.confirmations:
                self.confirmations = depth.confirmations
                await self._stage(S.AWAITING_PAYOUT_CONFIRMATIONS, confirmations=depth.confirmations)
            if depth.confirmations >= plan.payout_confirmations:
                break
            await workflow.sleep(timedelta(seconds=plan.poll_interval_seconds))
        await self._stage(S.SETTLING)
        assert self.btc_txid is not None
        await self._must(t.complete_withdrawal_on_chain, t.CompleteInput(ref.operation_id, self.btc_txid), chain=True)
        await self._final(t.settle_withdrawal, t.SettleInput(
            ref.operation_id, self.btc_txid, depth.confirmations, depth.block_height,
        ))
        self.status = OperationStatus.COMPLETED.value
        self.set_stage(S.COMPLETED)

    # ---- helpers -------------------------------------------------------------------------
    def _update_activity(self) -> Activity[t.OperationUpdate, None]:
        return t.update_withdrawal_operation

    def _operation_id(self) -> str:
        assert self._inp is not None
        return self._inp.operation_id

    def _ref(self) -> t.OperationRef:
        return t.OperationRef(self._operation_id())

    def _retried_update(self) -> t.OperationUpdate:
        return t.OperationUpdate(self._operation_id(), stage=self.stage, clear_error=True,
                                 audit_action="withdrawal.retried")

    async def _must(self, activity: Activity[ArgT, ResultT], arg: ArgT, *, chain: bool = False) -> ResultT:
        """A step that may not be given up (money moved): an operator's cancel is refused, audited."""
        while True:
            try:
                return await self._call(activity, arg, chain=chain)
            except OperatorCancelled as cancelled:
                await self._refuse_cancel(cancelled)

    def _check_user_cancel(self) -> None:
        if self._user_cancel is not None:
            raise _Ended(OperationStatus.CANCELLED, "cancelled_by_user", self._user_cancel.user_id, self._user_cancel.reason)

    async def _wait_or_user_cancel(self, pause: timedelta) -> None:
        try:
            await workflow.wait_condition(lambda: self._user_cancel is not None, timeout=pause)
        except TimeoutError:
            return
        self._check_user_cancel()

    def _finish_input(self, ended: _Ended) -> t.FinishInput:
        return t.FinishInput(self._ref().operation_id, ended.status.value, final_stage(ended.status).value, ended.error,
                             ended.actor_id, ended.reason)

    async def _result(self) -> t.WithdrawalResult:
        await workflow.wait_condition(workflow.all_handlers_finished)
        return t.WithdrawalResult(self._ref().operation_id, self.status, self.stellar_tx_hash, self.btc_txid, self.error)

    # ---- messages ------------------------------------------------------------------------
    def _check_decision(self, decision: ApprovalDecision) -> None:
        if self.stage != S.AWAITING_APPROVAL or self._decision is not None or self._user_cancel is not None:
            raise ValueError("this withdrawal is not awaiting approval")
        assert self._inp is not None
        validate_decision(decision, self._inp.user_id)

    @workflow.update(name=t.DECIDE_UPDATE)
    async def decide(self, decision: ApprovalDecision) -> str:
        """An operator approves or rejects; returns the stage it was recorded in."""
        self._decision = decision
        return self.stage

    @decide.validator
    def _validate_decide(self, decision: ApprovalDecision) -> None:
        self._check_decision(decision)

    @workflow.signal(name=t.DECIDE_SIGNAL)
    def decide_signal(self, decision: ApprovalDecision) -> None:
        """The same decision as a signal (Temporal UI); an invalid one is logged and ignored."""
        try:
            self._check_decision(decision)
        except Exception as exc:  # signals cannot be rejected; say why in the workflow log
            workflow.logger.warning("ignored withdrawal decision signal: %s", exc)
            return
        self._decision = decision

    @workflow.update(name=t.CANCEL_BY_USER_UPDATE)
    async def cancel_by_user(self, request: UserCancel) -> str:
        """The requester cancels before the burn; returns the stage it was recorded in."""
        self._user_cancel = request
        if self._parked:  # a parked pre-burn step gives way to the user's cancel
            self._action = ("cancel", OperatorAction(reason=request.reason or "cancelled by the user"))
        return self.stage

    @cancel_by_user.validator
    def _validate_cancel(self, request: UserCancel) -> None:
        assert self._inp is not None
        if request.user_id != self._inp.user_id:
            raise ValueError("only the requester may cancel a withdrawal")
        if (self._burn_started and not self._batch_cancellable) or self._user_cancel is not None \
                or OperationStatus(self.status).is_final:
            raise ValueError("the withdrawal can no longer be cancelled")

    @workflow.update(name=t.SUBMIT_SIGNED_PSBT_UPDATE)
    async def submit_signed_psbt(self, inp: t.SignedPsbtInput) -> str:
        """An external signer's PSBT: checked and stored by an activity; returns the txid."""
        self._accepting = True
        try:
            state = await workflow.execute_activity(
                t.accept_signed_payout_psbt, inp, start_to_close_timeout=self._timeout(), retry_policy=self._retry(),
            )
        except ActivityError as err:
            raise ApplicationError(str(err.cause or err), type=failure_type(err) or "activity_failed") from None
        finally:
            self._accepting = False
        self._signed = True
        return state.txid

    @submit_signed_psbt.validator
    def _validate_signed_psbt(self, inp: t.SignedPsbtInput) -> None:
        if not self._awaiting_signature or self._accepting or self._signed:
            raise ValueError("this withdrawal is not awaiting a signed PSBT")

    @workflow.query(name=t.GET_STATE_QUERY)
    def get_state(self) -> t.WithdrawalState:
        """Stage, status, both chains' hashes and the payout depth."""
        return t.WithdrawalState(self.stage, self.status, self.stellar_tx_hash, self.btc_txid, self.confirmations, self.error)
