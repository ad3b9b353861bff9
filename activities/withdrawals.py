"""Withdrawal activities on Postgres and Soroban: policy, the balance hold, the burn, the
on-chain completion or cancellation, and the final settlement.

Each activity is idempotent, keyed by the operation id: a retry after a crash finds the work
done (flags on the operation row, ``chain_submissions`` rows) and returns the stored result.
Balance changes, the operation row and its audit row commit in one transaction. Router calls go
through :class:`ChainSubmitter` with keys ``withdrawal-burn|complete|cancel:<operation id>``, so
each happens on chain at most once. The Bitcoin payout lives in
:mod:`activities.withdrawal_payouts`.

Failures the workflow acts on are ``ApplicationError`` types from
:mod:`contracts.withdrawals`; chain and database outages are ordinary retryable errors.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.chain_errors import soroban_failure
from activities.chain_submissions import ChainSubmitter
from activities.heartbeats import with_heartbeats
from activities.payout_books import PayoutBooks
from activities.withdrawal_support import audit, load_operation
from chains.soroban import Contracts, KycOp
from chains.soroban.errors import ContractError, SorobanError
from config.settings import Settings
from contracts import withdrawals as t
from db import ledger
from db.models.base import utcnow
from db.queries import chain_submissions as submissions
from db.queries import kyc, limits, system_state
from db.queries import payouts as pq
from db.queries import withdrawals as wq
from db.queries.operations import snapshot as operation_snapshot
from db.session import transaction
from domain.deposits import usage_without
from domain.limits import InsufficientTier, LimitedOperation, LimitExceeded, LimitPolicy, check_operation
from domain.operations import IllegalTransition, OperationStage, OperationStatus, check_transition
from domain.withdrawals import (
    InsufficientBalance,
    burn_key,
    cancel_key,
    complete_key,
    needs_approval,
    router_withdrawal_id,
)

log = logging.getLogger(__name__)
#: Router contract errors (docs/CONTRACTS.md) that refuse a burn before anything moved.
_BURN_REFUSED = {11: "burn_rejected", 20: "compliance_check_failed", 21: "insufficient_kyc_tier"}
INSUFFICIENT_RESERVES, INVALID_STATE, DUPLICATE_OPERATION, SYSTEM_PAUSED = 30, 41, 42, 50


def _fail(kind: str, message: str) -> ApplicationError:
    return ApplicationError(message, type=kind, non_retryable=True)


class WithdrawalActivities:
    """Postgres and Soroban steps of one withdrawal (see :meth:`all`)."""

    def __init__(
        self, *, settings: Settings, sessions: async_sessionmaker[AsyncSession], contracts: Contracts,
        submitter: ChainSubmitter,
    ) -> None:
        self._settings = settings
        self._sessions = sessions
        self._contracts = contracts
        self._submitter = submitter
        self._policy = LimitPolicy.from_settings(settings.kyc)
        self._payouts = PayoutBooks(settings)

    def all(self) -> list[Callable[..., Awaitable[Any]]]:
        return [
            self.plan, self.update_operation, self.check_policy, self.hold, self.release, self.burn,
            self.complete_on_chain, self.cancel_on_chain, self.recredit, self.settle,
        ]

    @activity.defn(name=t.PLAN)
    async def plan(self, inp: t.WithdrawalInput) -> t.WithdrawalPlan:
        """Fix the withdrawal's approval need, depth and timings from configuration."""
        w = self._settings.withdrawals
        return t.WithdrawalPlan(
            needs_approval=needs_approval(inp.amount_sats, w.approval_threshold_sats),
            approval_timeout_seconds=w.approval_timeout_seconds,
            payout_confirmations=w.payout_confirmations,
            poll_interval_seconds=w.poll_interval_seconds,
            activity_timeout_seconds=w.activity_timeout_seconds,
            activity_max_attempts=w.activity_max_attempts,
        )

    @activity.defn(name=t.UPDATE)
    async def update_operation(self, inp: t.OperationUpdate) -> None:
        """Apply a projection change (stage, status, depth, error) with its audit row."""
        async with transaction(self._sessions) as session:
            op = await load_operation(session, inp.operation_id, for_update=True)
            before = operation_snapshot(op)
            if inp.status is not None:
                try:
                    check_transition(OperationStatus(op.status), OperationStatus(inp.status))
                except IllegalTransition as exc:  # a code bug: retrying cannot fix it
                    raise _fail("IllegalTransition", str(exc)) from exc
                op.status = inp.status
            for name in ("stage", "error", "confirmations", "required_confirmations"):
                if getattr(inp, name) is not None:
                    setattr(op, name, getattr(inp, name))
            if inp.clear_error:
                op.error = None
            op.updated_at = utcnow()
            after = operation_snapshot(op)
            if inp.audit_action or any(before[k] != after[k] for k in ("status", "stage", "error")):
                audit(session, op, inp.audit_action or "withdrawal.stage_changed", before,
                      actor_id=inp.actor_id, reason=inp.reason)

    @activity.defn(name=t.CHECK_POLICY)
    async def check_policy(self, ref: t.OperationRef) -> t.PolicyResult:
        """Pause switch, KYC tier and limits in Postgres, then the router's pause and the
        registry's approval on chain (docs/CONTRACTS.md ``is_approved(user, WITHDRAW, amount)``).

        Raises ApplicationError (non-retryable): ``insufficient_kyc_tier``, ``limit_exceeded``,
        ``compliance_check_failed``.
        """
        now = utcnow()
        async with transaction(self._sessions) as session:
            op = await load_operation(session, ref.operation_id)
            pause = await system_state.get_pause(session)
            if pause.withdrawals:
                return t.PolicyResult(paused=True, reason=pause.reason or "withdrawals paused")
            tier = await kyc.current_tier(session, user_id=op.user_id, now=now)
            await limits.lock_user_limits(session, user_id=op.user_id)
            usage = await limits.get_usage(session, user_id=op.user_id, operation_type=op.operation_type, now=now)
            usage = usage_without(usage, amount_sats=op.amount or 0, created_at=op.created_at, now=now)
            try:
                check_operation(self._policy, LimitedOperation.WITHDRAWAL, tier, op.amount or 0, usage)
            except (InsufficientTier, LimitExceeded) as exc:
                raise _fail(exc.code, str(exc)) from exc
        user = (op.meta or {}).get("stellar_address", "")
        try:
            if await self._contracts.router.is_paused():
                return t.PolicyResult(paused=True, reason="integration_router is paused")
            approved = await self._contracts.kyc.is_approved(user, KycOp.WITHDRAW, op.amount or 0)
        except SorobanError as exc:
            raise soroban_failure(exc) from exc
        if not approved:
            raise _fail("compliance_check_failed", "kyc_registry does not approve this withdrawal")
        return t.PolicyResult(paused=False)

    @activity.defn(name=t.HOLD)
    async def hold(self, ref: t.OperationRef) -> None:
        """Make sure the amount is held in ``reserved_balance`` (the API normally placed it).

        Raises ApplicationError ``insufficient_balance`` (non-retryable).
        """
        async with transaction(self._sessions) as session:
            op = await load_operation(session, ref.operation_id, for_update=True)
            before = operation_snapshot(op)
            try:
                placed = await wq.ensure_hold(session, op)
            except InsufficientBalance as exc:
                raise _fail(exc.code, str(exc)) from exc
            if placed:
                audit(session, op, "withdrawal.reserved", before)

    @activity.defn(name=t.RELEASE)
    async def release(self, inp: t.FinishInput) -> None:
        """End a withdrawal that never burned: release the hold, set the final status, audit.
        Idempotent (a final operation is left as it is).

        Raises ApplicationError ``withdrawal_state_conflict`` when a burn envelope was stored
        and not proven failed: it may be on chain, so the hold stays.
        """
        burn = await submissions.get_by_key(self._sessions, idempotency_key=burn_key(inp.operation_id))
        if burn is not None and burn.status != "failed":
            raise _fail("withdrawal_state_conflict", f"a burn was submitted ({burn.status}): nothing is released")
        async with transaction(self._sessions) as session:
            op = await load_operation(session, inp.operation_id, for_update=True)
            if OperationStatus(op.status).is_final:
                return
            if op.stellar_tx_hash is not None:
                raise _fail("withdrawal_state_conflict", "the withdrawal burned: it cannot be released")
            before = operation_snapshot(op)
            released = await wq.release_hold(session, op)
            op.status, op.stage, op.error = inp.status, inp.stage, inp.error
            op.completed_at = op.updated_at = utcnow()
            audit(session, op, f"withdrawal.{inp.status}", before, actor_id=inp.actor_id, reason=inp.reason,
                  extra={"released_sats": op.amount if released else 0})

    async def _submit(self, key: str, function: str, invoke) -> dict[str, Any]:  # type: ignore[no-untyped-def]
        return await with_heartbeats(
            self._submitter.submit_once(key, contract="integration_router", function=function, invoke=invoke)
        )

    @activity.defn(name=t.BURN)
    async def burn(self, ref: t.OperationRef) -> t.BurnResult:
        """Burn through ``integration_router.execute_token_withdrawal`` exactly once, then debit the
        balance and hold, mark the operation ``processing`` with the burn hash, audit (one txn).

        Raises ApplicationError: ``burn_rejected`` / ``compliance_check_failed`` /
        ``insufficient_kyc_tier`` (nothing burned), ``insufficient_reserves``,
        ``withdrawal_state_conflict`` (attention), ``RouterPaused`` (retried).
        """
        async with transaction(self._sessions) as session:
            op = await load_operation(session, ref.operation_id, for_update=True)
            if op.stellar_tx_hash is not None:
                return t.BurnResult(op.stellar_tx_hash)
            burn_stored = await submissions.get_by_key(self._sessions, idempotency_key=burn_key(ref.operation_id))
            if burn_stored is None and await ledger.get_transfer(session, f"withdrawal-hold:{op.id}:void"):
                # The event monitor saw the held tokens leave on chain (under this row's lock).
                raise _fail("insufficient_balance", "the held tokens left the account on Stellar")
        meta = op.meta or {}
        wid = router_withdrawal_id(op.id)
        try:
            record = await self._submit(burn_key(ref.operation_id), "execute_token_withdrawal", lambda store: (
                self._contracts.router.execute_token_withdrawal(
                    meta["stellar_address"], op.amount or 0, meta["btc_address"], wid, store=store)
            ))
        except ContractError as exc:
            if exc.code in _BURN_REFUSED:
                raise _fail(_BURN_REFUSED[exc.code], str(exc)) from exc
            if exc.code == SYSTEM_PAUSED:
                raise ApplicationError("integration_router is paused", type="RouterPaused") from exc
            if exc.code == INSUFFICIENT_RESERVES:
                raise _fail("insufficient_reserves", str(exc)) from exc
            raise _fail("withdrawal_state_conflict", str(exc)) from exc
        except SorobanError as exc:
            raise soroban_failure(exc) from exc
        tx_hash = str(record["tx_hash"])
        async with transaction(self._sessions) as session:
            op = await load_operation(session, ref.operation_id, for_update=True)
            before = operation_snapshot(op)
            balance = await wq.debit_burned(session, op, stellar_tx_hash=tx_hash)
            if balance is not None:
                op.status, op.updated_at = OperationStatus.PROCESSING.value, utcnow()
                audit(session, op, "withdrawal.burned", before, extra={"balance": balance, "tx_hash": tx_hash})
        return t.BurnResult(tx_hash)

    @activity.defn(name=t.COMPLETE_ON_CHAIN)
    async def complete_on_chain(self, inp: t.CompleteInput) -> str:
        """``integration_router.complete_withdrawal(id, btc_txid)`` exactly once; returns its hash."""
        wid = router_withdrawal_id(inp.operation_id)
        try:
            record = await self._submit(complete_key(inp.operation_id), "complete_withdrawal", lambda store: (
                self._contracts.router.complete_withdrawal(wid, bytes.fromhex(inp.txid), store=store)))
        except ContractError as exc:
            raise _fail("withdrawal_state_conflict", str(exc)) from exc
        except SorobanError as exc:
            raise soroban_failure(exc) from exc
        return str(record["tx_hash"])

    @activity.defn(name=t.CANCEL_ON_CHAIN)
    async def cancel_on_chain(self, ref: t.OperationRef) -> str:
        """``integration_router.cancel_withdrawal(id)`` exactly once (re-mints the burned tokens)."""
        wid = router_withdrawal_id(ref.operation_id)
        try:
            record = await self._submit(cancel_key(ref.operation_id), "cancel_withdrawal", lambda store: (
                self._contracts.router.cancel_withdrawal(wid, store=store)))
        except ContractError as exc:
            raise _fail("withdrawal_state_conflict", str(exc)) from exc
        except SorobanError as exc:
            raise soroban_failure(exc) from exc
        return str(record["tx_hash"])

    async def _out_of_payouts(self, session, op) -> None:
        """Make sure the withdrawal is in no payout that may reach the chain: a queued item is
        cancelled, an unsigned payout of it is abandoned (its other withdrawals queue again).

        Raises ApplicationError ``withdrawal_state_conflict``: a payout of it was signed.
        """
        await pq.lock_batching(session)
        item = await pq.item_of(session, operation_id=op.id, for_update=True)
        if item is None or item.status in ("cancelled", "failed"):
            return
        if item.status == "queued":
            item.status, item.updated_at = "cancelled", utcnow()
            return
        payout = await pq.get(session, item.payout_id, for_update=True) if item.payout_id else None
        if payout is None or payout.status != "awaiting_signature" or item.status == "paid":
            raise _fail("withdrawal_state_conflict", f"payout {payout.txid if payout else ''} is "
                                                     f"{payout.status if payout else item.status}")
        first = await pq.version(session, payout.id, 0, for_update=True)
        assert first is not None
        item.status, item.payout_id, item.updated_at = "cancelled", None, utcnow()
        await self._payouts.abandon_version(session, payout, first, reason="its withdrawal was cancelled")

    @activity.defn(name=t.RECREDIT)
    async def recredit(self, inp: t.FinishInput) -> None:
        """After the on-chain cancel: credit the re-minted tokens, take the withdrawal out of any
        unsent payout, set the final status and audit, in one transaction. Idempotent.

        Raises ApplicationError ``withdrawal_state_conflict`` when a payout was signed: it may be
        on the chain, so nothing is compensated.
        """
        async with transaction(self._sessions) as session:
            op = await load_operation(session, inp.operation_id, for_update=True)
            if (op.meta or {}).get("reminted"):
                return
            before = operation_snapshot(op)
            await self._out_of_payouts(session, op)
            balance = await wq.credit_reminted(session, op)
            check_transition(OperationStatus(op.status), OperationStatus(inp.status))
            op.status, op.stage, op.error = inp.status, inp.stage, inp.error
            op.completed_at = op.updated_at = utcnow()
            audit(session, op, "withdrawal.reminted", before, actor_id=inp.actor_id, reason=inp.reason,
                  extra={"balance": balance})

    async def _settle_payout(self, session, op, inp: t.SettleInput) -> None:
        """The withdrawal's payout confirmed: its own pending transfers are posted (recipient, miner
        fee share, the user's fee charge). A payout made before batches (whose withdrawal drove it)
        is settled here too: the UTXO set follows the version that paid ``inp.txid``."""
        item = await pq.item_of(session, operation_id=op.id, for_update=True)
        if item is None or item.payout_id is None:
            return
        payout = await pq.get(session, item.payout_id)
        assert payout is not None
        if payout.status != "confirmed":  # settled by its PayoutWorkflow unless it predates batches
            payout = await pq.get(session, item.payout_id, for_update=True)
            assert payout is not None
            versions = [v for v in await pq.versions(session, payout.id) if v.tx_hex and v.parent_txid == inp.txid]
            if not versions or inp.block_height is None:
                raise _fail("withdrawal_state_conflict", f"no signed version of the payout paid {inp.txid}")
            if payout.status != "confirmed":
                await self._payouts.settle(session, payout, winner=versions[-1].version,
                                           block_height=inp.block_height, confirmations=inp.confirmations)
        await self._payouts.settle_item(session, payout, item)
        shown = (op.meta or {}).get("payout")
        if isinstance(shown, dict):  # the txid that confirmed (a bump replaces the first one)
            op.meta = {**(op.meta or {}), "payout": {**shown, "txid": payout.txid}}

    @activity.defn(name=t.SETTLE)
    async def settle(self, inp: t.SettleInput) -> None:
        """Complete the operation, post its payout in the books (and, for a pre-batch payout,
        confirm it in the UTXO set) and audit, in one transaction (idempotent)."""
        async with transaction(self._sessions) as session:
            op = await load_operation(session, inp.operation_id, for_update=True)
            if op.status == OperationStatus.COMPLETED.value:
                return
            before = operation_snapshot(op)
            await self._settle_payout(session, op, inp)
            now = utcnow()
            op.status, op.stage, op.error = OperationStatus.COMPLETED.value, OperationStage.COMPLETED.value, None
            op.btc_tx_hash, op.confirmations, op.completed_at, op.updated_at = inp.txid, inp.confirmations, now, now
            audit(session, op, "withdrawal.completed", before, extra={"btc_txid": inp.txid})
