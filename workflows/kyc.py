"""``KycApprovalWorkflow`` (id ``kyc-<user id>-<record id>``): one KYC submission from screening
to expiry.

Stages: screening → (tier 1: automatic approval | tiers 2–4: awaiting_review until a compliance
officer decides) → registering on ``kyc_registry`` → approved → (after the validity period)
expired and revoked on chain. A sanctions hit rejects without reaching an officer. A record that
lacks a field the registration needs (records from before ``country`` was required) waits at
awaiting_user_data until the user supplies it, never at needs_attention.

When the record is under review, approved or rejected, the user's deposits that wait on their KYC
are told (activity ``notify_kyc_waiting_deposits``, signal ``kyc_changed``), so they continue at
once instead of at their next periodic re-check.

Messages: update ``decide`` (validated: awaiting review, officer is not the subject, reason to
reject) and signal ``decide_signal`` with the same payload for the Temporal UI; signal
``data_supplied`` (the API, after the user added a missing field); signals ``retry``/``cancel``
for a parked step; query ``get_state``. Payloads carry ids only.
"""

from __future__ import annotations

import contextlib
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from contracts import kyc as t
    from contracts.deposits import KycChanged
    from contracts.kyc import KycState, KycWorkflowInput
    from contracts.operations import GET_STATE_QUERY, OperatorAction
    from domain.decisions import DecisionKind
    from domain.kyc import (
        KycDecision,
        KycStage,
        KycStatus,
        validate_decision,
    )
    from domain.kyc_review import auto_approval
    from workflows.operator_control import OperatorCancelled, OperatorControl

DB_TIMEOUT = timedelta(seconds=30)
CHAIN_TIMEOUT = timedelta(minutes=3)
DB_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30), maximum_attempts=20)
CHAIN_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    maximum_interval=timedelta(minutes=1),
    maximum_attempts=8,
    non_retryable_error_types=["ContractError", "StellarAddressMissing"],
)
SANCTIONS_REASON = "sanctions_screening_hit"
NOTIFY_TIMEOUT = timedelta(seconds=30)
NOTIFY_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=10), maximum_attempts=5)
#: A record waiting for user data re-checks this often, in case the ``data_supplied`` signal was lost.
USER_DATA_RECHECK = timedelta(hours=1)
#: ``workflow.patched`` ids (replay safety: runs recorded before them take the old path).
PATCH_NOTIFY_ON_REVIEW = "kyc-notify-deposits-on-review"
PATCH_NOTIFY_ON_DECISION = "kyc-notify-deposits-on-decision"


@workflow.defn(name=t.WORKFLOW)
class KycApprovalWorkflow(OperatorControl):
    """One KYC record from screening to approval, rejection or expiry (see the module docstring).
"""
    def __init__(self) -> None:
        super().__init__()
        self.status = KycStatus.PENDING.value
        self.expires_at: datetime | None = None
        self._subject: str | None = None
        self._record: str | None = None
        self._decision: KycDecision | None = None
        self._data_supplied = False

    @workflow.run
    async def run(self, inp: KycWorkflowInput) -> KycState:
        """Decide the record, register an approval on chain, then wait for its expiry."""
        self._subject, self._record = inp.user_id, inp.record_id
        ref = t.KycRecordRef(inp.record_id)
        try:
            await self._decide(inp, ref)
            if self.status == KycStatus.APPROVED.value:
                await self._wait_for_expiry(ref)
        except OperatorCancelled as cancelled:
            if self.status == KycStatus.PENDING.value:
                await self._reject(ref, f"cancelled by operator: {cancelled.action.reason}", cancelled.action.operator_id)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self.get_state()

    async def _decide(self, inp: KycWorkflowInput, ref: t.KycRecordRef) -> None:
        # 1. sanctions screening: a hit rejects without reaching an officer
        self.set_stage(KycStage.SCREENING)
        screen = await self.step(
            t.screen_kyc_record, ref, start_to_close=DB_TIMEOUT, retry=DB_RETRY
        )
        if screen.hits:
            await self._reject(ref, SANCTIONS_REASON, None)
            return
        # 2. Basic is approved automatically; higher tiers wait for a compliance officer
        self._decision = auto_approval(inp.tier)
        if self._decision is None:
            self.set_stage(KycStage.AWAITING_REVIEW)
            if workflow.patched(PATCH_NOTIFY_ON_REVIEW):
                await self._notify_deposits()
            await workflow.wait_condition(lambda: self._decision is not None)
        decision = self._decision
        assert decision is not None
        officer = decision.officer_id or None
        if decision.decision == DecisionKind.REJECT:
            await self._reject(ref, decision.reason or "", officer)
            return
        # 3. register on chain (tier, expiry, sanctions cleared), then mark the record approved
        self.set_stage(KycStage.REGISTERING)
        approved_at, expires_at = await self._register(inp)
        await self.step(
            t.approve_kyc_record, t.ApproveInput(inp.record_id, approved_at, expires_at, officer, decision.reason),
            start_to_close=DB_TIMEOUT, retry=DB_RETRY,
        )
        self.status, self.expires_at = KycStatus.APPROVED.value, expires_at
        self.set_stage(KycStage.APPROVED)
        if workflow.patched(PATCH_NOTIFY_ON_DECISION):
            await self._notify_deposits()

    async def _register(self, inp: KycWorkflowInput) -> tuple[datetime, datetime]:
        """Register on chain; a record lacking a field waits for the user (awaiting_user_data).

        Returns the approval time and expiry of the registration that succeeded.
        """
        while True:
            approved_at = workflow.now()
            expires_at = approved_at + timedelta(days=inp.validity_days)
            try:
                await self.step(
                    t.register_kyc_on_chain, t.RegisterOnChainInput(inp.record_id, expires_at),
                    start_to_close=CHAIN_TIMEOUT, retry=CHAIN_RETRY, fail_on=(t.KYC_DATA_MISSING,),
                )
                return approved_at, expires_at
            except ActivityError:
                self._data_supplied = False
                self.set_stage(KycStage.AWAITING_USER_DATA)
                await self._notify_deposits()
                with contextlib.suppress(TimeoutError):  # a timeout re-checks the record
                    await workflow.wait_condition(lambda: self._data_supplied, timeout=USER_DATA_RECHECK)
                self.set_stage(KycStage.REGISTERING)

    async def _reject(self, ref: t.KycRecordRef, reason: str, officer_id: str | None) -> None:
        await self.step(
            t.reject_kyc_record, t.RejectInput(ref.record_id, reason, officer_id), start_to_close=DB_TIMEOUT, retry=DB_RETRY
        )
        self.status = KycStatus.REJECTED.value
        self.set_stage(KycStage.REJECTED)
        if workflow.patched(PATCH_NOTIFY_ON_DECISION):
            await self._notify_deposits()

    async def _notify_deposits(self) -> None:
        """Tell the user's waiting deposits (best effort: each also re-checks on a timer)."""
        assert self._subject is not None and self._record is not None
        try:
            await workflow.execute_activity(
                t.notify_kyc_waiting_deposits, KycChanged(self._subject, self._record),
                start_to_close_timeout=NOTIFY_TIMEOUT, retry_policy=NOTIFY_RETRY,
            )
        except ActivityError as exc:
            workflow.logger.warning("could not notify waiting deposits: %s", exc)

    async def _wait_for_expiry(self, ref: t.KycRecordRef) -> None:
        assert self.expires_at is not None
        await workflow.sleep(max(timedelta(0), self.expires_at - workflow.now()))
        result = await self.step(
            t.expire_kyc_record, ref, start_to_close=DB_TIMEOUT, retry=DB_RETRY
        )
        if result.revoke_on_chain:
            await self.step(t.revoke_kyc_on_chain, ref, start_to_close=CHAIN_TIMEOUT, retry=CHAIN_RETRY)
        if result.expired:
            self.status = KycStatus.EXPIRED.value
            self.set_stage(KycStage.EXPIRED)

    def _check_decision(self, decision: KycDecision) -> None:
        if self.stage != KycStage.AWAITING_REVIEW or self._decision is not None:
            raise ValueError("this KYC record is not awaiting a decision")
        validate_decision(decision, self._subject or "")

    @workflow.update(name=t.DECIDE_UPDATE)
    async def decide(self, decision: KycDecision) -> str:
        """A compliance officer's decision; returns the stage it was recorded in."""
        self._decision = decision
        return self.stage

    @decide.validator
    def _validate_decide(self, decision: KycDecision) -> None:
        self._check_decision(decision)

    @workflow.signal(name=t.DECIDE_SIGNAL)
    def decide_signal(self, decision: KycDecision) -> None:
        """The same decision as a signal (Temporal UI); an invalid one is logged and ignored."""
        try:
            self._check_decision(decision)
        except Exception as exc:  # signals cannot be rejected; say why in the workflow log
            workflow.logger.warning("ignored KYC decision signal: %s", exc)
            return
        self._decision = decision

    @workflow.signal(name=t.DATA_SUPPLIED_SIGNAL)
    def data_supplied(self, note: t.DataSupplied) -> None:
        """The user added a missing field: register again. A run parked on the registry's refusal
        (``ContractError``, records from before the field was checked) is retried too."""
        self._data_supplied = True
        if self._parked and self.error == "ContractError" and self._action is None:
            self._action = ("retry", OperatorAction(reason=f"the user supplied {', '.join(note.fields)}"))

    @workflow.query(name=GET_STATE_QUERY)
    def get_state(self) -> KycState:
        """Stage, status, error and the approval's expiry."""
        return KycState(stage=self.stage, status=self.status, error=self.error, expires_at=self.expires_at)
