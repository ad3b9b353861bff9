"""The deposit's policy check (activity ``check_deposit_policy``): may this deposit be minted now?

Postgres first (pause switch, KYC tier, rolling limits, under the user's limit lock), then the
chain (the router's pause, ``kyc_registry``'s approval). A refusal the user can fix is an answer,
not an error (the deposit waits on the user); a refusal only an operator can settle parks it. On
the lean path the outcome is written to the operation row in the transaction of the check.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities import deposit_stages as stages
from activities.chain_errors import soroban_failure
from chains.soroban import Contracts, KycOp
from chains.soroban.errors import SorobanError
from config.settings import Settings
from contracts import deposits as t
from db.models import Operation
from db.models.base import utcnow
from db.queries import kyc, limits, system_state
from db.queries.operations import StageChange
from db.session import transaction
from domain.deposits import AttentionReason
from domain.limits import LimitPolicy
from domain.pause import PauseState
from domain.user_waits import NoTierAllows, deposit_wait


def _attention(reason: AttentionReason, message: str) -> ApplicationError:
    return ApplicationError(message, type=reason.value, non_retryable=True)


class DepositPolicy:
    """The policy check over one worker's clients (see :meth:`all`)."""

    def __init__(self, *, settings: Settings, sessions: async_sessionmaker[AsyncSession], contracts: Contracts) -> None:
        self._settings = settings
        self._sessions = sessions
        self._contracts = contracts
        self._limits = LimitPolicy.from_settings(settings.kyc)

    def all(self) -> list[Callable[..., Awaitable[Any]]]:
        return [self.check_policy]

    @activity.defn(name=t.CHECK_POLICY)
    async def check_policy(self, inp: t.PolicyInput) -> t.PolicyResult:
        """Pause switch, KYC tier and limits in Postgres, then the router's pause and the
        registry's approval on chain.

        A refusal the user can fix is not an error: the result names the wait
        (``awaiting_kyc`` when the KYC is missing, pending, expired or too low for the amount;
        ``awaiting_limits`` while the rolling window is full) and what the user must do
        (``domain.user_waits``). An admitted deposit starts counting against the limits now
        (``limits_counted_at``). With ``inp.project`` the row shows the outcome: the wait stage
        and ``waiting_for``, else ``kyc_check``; ``error = system_paused`` while minting is paused.

        Raises ApplicationError (non-retryable, parks the deposit for an operator):
        ``limit_exceeded`` (no tier takes the amount), ``compliance_check_failed``; a Soroban
        failure type when the chain cannot be read (retried).
        """
        now = utcnow()
        d = self._settings.deposits
        refusal: ApplicationError | None = None
        async with transaction(self._sessions) as session:
            op = await stages.locked_operation(session, inp.operation_id)
            pause: PauseState = await system_state.get_pause(session)
            if pause.minting:
                if inp.project:
                    stages.project(session, op, stages.paused(op))
                return t.PolicyResult(paused=True, reason=pause.reason or "minting paused")
            snapshot = await kyc.snapshot(session, user_id=op.user_id, now=now)
            await limits.lock_user_limits(session, user_id=op.user_id)
            entries = await limits.usage_entries(
                session, user_id=op.user_id, operation_type=op.operation_type, now=now, excluding=op.id
            )
            try:
                wait = deposit_wait(self._limits, op.amount or 0, snapshot, entries, now)
            except NoTierAllows as exc:
                refusal = _attention(AttentionReason.LIMIT_EXCEEDED, str(exc))
                wait = None
            if wait is not None:
                recheck = d.user_wait_recheck_seconds
                if wait.frees_at is not None:
                    recheck = min(recheck, max(1.0, (wait.frees_at - now).total_seconds()))
                result = t.PolicyResult(
                    paused=False, wait_stage=wait.stage.value, wait_reason=wait.reason.value,
                    waiting_for=wait.waiting_for, recheck_seconds=recheck, max_wait_seconds=d.kyc_wait_days * 86_400,
                )
                if inp.project:
                    stages.project(session, op, stages.waiting(result))
                return result
            was_paused = op.error == stages.SYSTEM_PAUSED
            if inp.project:  # the deposit reached the check even when it is refused: the row shows it
                stages.project(session, op, stages.admitted(keep_pause_error=was_paused))
            if refusal is None and op.limits_counted_at is None:
                op.limits_counted_at = now
        if refusal is not None:
            raise refusal
        stellar_address = (op.meta or {}).get("stellar_address", "")
        try:
            if await self._contracts.router.is_paused():
                if inp.project and not was_paused:
                    await self._write(inp.operation_id, stages.paused)
                return t.PolicyResult(paused=True, reason="integration_router is paused")
            approved = await self._contracts.kyc.is_approved(stellar_address, KycOp.DEPOSIT, op.amount or 0)
        except SorobanError as exc:
            raise soroban_failure(exc) from exc
        if not approved:
            raise _attention(AttentionReason.COMPLIANCE_CHECK_FAILED, "kyc_registry does not approve this deposit")
        if inp.project and was_paused:
            await self._write(inp.operation_id, lambda _: stages.UNPAUSED)
        return t.PolicyResult(paused=False)

    async def _write(self, operation_id: str, change: Callable[[Operation], StageChange]) -> None:
        """Write ``change(row)`` to the operation row in a transaction of its own."""
        async with transaction(self._sessions) as session:
            op = await stages.locked_operation(session, operation_id)
            stages.project(session, op, change(op))
