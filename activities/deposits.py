"""Activities of the deposit workflow: every side effect of crediting one BTC output.

Each activity is idempotent, keyed by the operation id: a retry after a crash finds the work
done and returns the stored result. Postgres writes run in one transaction with their audit
row; the mint goes through :class:`ChainSubmitter` (signed envelope stored before sending,
re-driven on retry), so it happens at most once per operation.

On the lean path each activity also writes its stage to the operation row, in the transaction
of its work (:mod:`activities.deposit_stages`); ``update_deposit_operation`` is left for parking,
operator steering and the end of a failed or cancelled claim. The policy check lives in
:mod:`activities.deposit_policy`, the solvency guard in :mod:`activities.deposit_guards`.

Failures the workflow acts on are ``ApplicationError`` types from :mod:`contracts.deposits`
(``AttentionReason`` values park the deposit for an operator); chain and database outages are
ordinary retryable errors.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities import deposit_stages as stages
from activities.chain_errors import soroban_failure
from activities.chain_submissions import ChainSubmitter
from activities.custody_books import CustodyBooks, Sighting
from activities.heartbeats import with_heartbeats
from chains.bitcoin.deposits import verify_deposit
from chains.bitcoin.errors import TxNotFound
from chains.bitcoin.esplora import EsploraClient
from chains.soroban import Contracts
from chains.soroban.errors import ContractError, SorobanError
from config.settings import Settings
from contracts import deposits as t
from contracts.workflow_ids import mint_submission_key
from db import ledger
from db.audit import record_audit
from db.models import Operation
from db.models.base import utcnow
from db.queries import chain_submissions as submissions
from db.queries import deposit_addresses, operations
from db.queries.operations import StageChange
from db.session import transaction
from domain import entries as e
from domain.bitcoin_address import parse_address
from domain.bitcoin_chain import confirmations
from domain.chart import balance
from domain.deposit_watch import DepositOutcome, classify_output
from domain.deposits import AttentionReason, required_confirmations
from domain.operations import IllegalTransition, OperationStage, OperationStatus

log = logging.getLogger(__name__)
#: Router contract error codes (docs/CONTRACTS.md) and what they mean for a deposit.
_ROUTER_ATTENTION = {20: AttentionReason.COMPLIANCE_CHECK_FAILED, 21: AttentionReason.INSUFFICIENT_KYC_TIER}
DUPLICATE_OPERATION, SYSTEM_PAUSED = 42, 50


def _attention(reason: AttentionReason, message: str) -> ApplicationError:
    return ApplicationError(message, type=reason.value, non_retryable=True)


class DepositActivities:
    """The deposit activities over one worker's clients (see :meth:`all`)."""

    def __init__(
        self,
        *,
        settings: Settings,
        sessions: async_sessionmaker[AsyncSession],
        esplora: EsploraClient,
        contracts: Contracts,
        submitter: ChainSubmitter,
    ) -> None:
        self._settings = settings
        self._sessions = sessions
        self._esplora = esplora
        self._contracts = contracts
        self._submitter = submitter
        self._books = CustodyBooks(settings)

    def all(self) -> list[Callable[..., Awaitable[Any]]]:
        return [
            self.plan_deposit, self.observe_deposit, self.update_operation, self.mint_deposit, self.credit_deposit,
        ]

    async def _operation(self, session: AsyncSession, operation_id: str, *, for_update: bool = False) -> Operation:
        op = await operations.get_by_id(session, operation_id=uuid.UUID(operation_id), for_update=for_update)
        if op is None:
            raise ApplicationError(f"operation {operation_id} does not exist", type="OperationMissing", non_retryable=True)
        return op

    @activity.defn(name=t.PLAN)
    async def plan_deposit(self, inp: t.PlanInput) -> t.DepositPlan:
        """Fix the deposit's depth (configured, deeper when large, never below the router's) and
        the workflow's timings; with ``inp.project`` the row moves to ``verifying``
        (``processing``, ``required_confirmations``). Raises a Soroban failure type when the
        router cannot be read, ``OperationMissing`` for an unknown operation."""
        try:
            router_min = await self._contracts.router.get_min_confirmations()
        except SorobanError as exc:
            raise soroban_failure(exc) from exc
        b, d = self._settings.bitcoin, self._settings.deposits
        plan = t.DepositPlan(
            required_confirmations=required_confirmations(
                inp.amount_sats,
                min_confirmations=b.min_confirmations,
                large_threshold_sats=b.large_deposit_threshold_sats,
                large_confirmations=b.large_deposit_confirmations,
                router_min_confirmations=router_min,
            ),
            reorg_window_blocks=d.reorg_window_blocks,
            watch_blocks_after_mint=d.watch_blocks_after_mint,
            poll_interval_seconds=d.poll_interval_seconds,
            activity_timeout_seconds=d.activity_timeout_seconds,
            activity_max_attempts=d.activity_max_attempts,
        )
        if inp.project:
            async with transaction(self._sessions) as session:
                op = await stages.locked_operation(session, inp.operation_id)
                stages.project(session, op, stages.planned(plan.required_confirmations))
        return plan

    @activity.defn(name=t.OBSERVE)
    async def observe_deposit(self, inp: t.ObserveInput) -> t.DepositObservation:
        """Read the outpoint on the canonical chain and feed the custody UTXO set (chain errors
        are retried).

        The claim holds only for output ``vout`` itself: it must pay the user's deposit address
        exactly ``amount_sats`` (other outputs of the same transaction do not count). A deposit
        of several small receipts (``metadata.outpoints``) holds when each output still pays the
        address; its depth is the shallowest one's. Outputs that hold are sighted (their receipt
        booked once) and claimed by this deposit, in one transaction with the stage the
        observation writes (``inp.project`` / ``inp.complete_at``, see ``deposit_stages.observed``).
        """
        async with self._sessions() as session:
            op = await self._operation(session, inp.operation_id)
            row = await deposit_addresses.get_by_user(session, user_id=uuid.UUID(inp.user_id))
        tip = await self._esplora.tip_height()
        sightings: list[Sighting] = []
        if row is None:
            obs = t.DepositObservation(DepositOutcome.NO_OUTPUT_TO_ADDRESS.value, 0, 0, None, None, tip)
        elif outpoints := (op.meta or {}).get("outpoints"):
            obs, sightings = await self._observe_receipts(op, outpoints, row.address, tip)
        else:
            obs, sightings = await self._observe_output(inp, row.address, tip)
        change, from_stage = stages.observed(inp, obs)
        if sightings or change is not None:
            await self._record(op, sightings, tip, change, from_stage)
        return obs

    async def _observe_output(
        self, inp: t.ObserveInput, address: str, tip: int
    ) -> tuple[t.DepositObservation, list[Sighting]]:
        found = await verify_deposit(
            self._esplora, txid=inp.txid, claimed_amount_sats=inp.amount_sats,
            deposit_address=address, network=self._settings.bitcoin.network,
        )
        output = next((o for o in found.outputs if o.vout == inp.vout), None)
        outcome = classify_output(found.outcome, output.amount_sats if output else None, inp.amount_sats,
                                  in_block=found.block_height is not None)
        amount = output.amount_sats if output is not None and outcome.pays_address else 0
        sightings = []
        if outcome.present:
            sightings = [Sighting(f"{inp.txid}:{inp.vout}", amount, address, found.block_height, found.block_hash)]
        obs = t.DepositObservation(outcome.value, amount, found.confirmations, found.block_height, found.block_hash, tip)
        return obs, sightings

    async def _observe_receipts(
        self, op: Operation, outpoints: list[str], address: str, tip: int
    ) -> tuple[t.DepositObservation, list[Sighting]]:
        script = parse_address(address, self._settings.bitcoin.network).script_pubkey.hex()
        sightings, depths, heights, total = [], [], [], 0
        for outpoint in outpoints:
            txid, vout = outpoint.rsplit(":", 1)
            try:
                tx = await self._esplora.transaction(txid)
            except TxNotFound:
                return t.DepositObservation(DepositOutcome.NOT_FOUND.value, 0, 0, None, None, tip), []
            output = next((o for o in tx.outputs if o.vout == int(vout)), None)
            if output is None or output.script_pubkey != script:
                return t.DepositObservation(DepositOutcome.NO_OUTPUT_TO_ADDRESS.value, 0, 0, None, None, tip), []
            total += output.amount_sats
            status = tx.status
            depths.append(confirmations(tip, status.block_height) if status.confirmed else 0)
            heights.append(status.block_height)
            sightings.append(Sighting(outpoint, output.amount_sats, address, status.block_height, status.block_hash))
        if total != (op.amount or 0):
            return t.DepositObservation(DepositOutcome.AMOUNT_MISMATCH.value, total, 0, None, None, tip), []
        if any(h is None for h in heights):
            return t.DepositObservation(DepositOutcome.UNCONFIRMED.value, total, 0, None, None, tip), sightings
        obs = t.DepositObservation(DepositOutcome.CONFIRMED.value, total, min(depths), max(heights), None, tip)
        return obs, sightings

    async def _record(
        self, op: Operation, sightings: list[Sighting], tip: int, change: StageChange | None, from_stage: str | None
    ) -> None:
        """Feed the UTXO set, claim the outputs for ``op`` and write the observation's stage, in
        one transaction."""
        async with transaction(self._sessions) as session:
            rows = []
            for s in sightings:
                found = await self._books.sight(session, s, tip_height=tip)
                if found is not None:
                    rows.append(found)
            locked = await operations.get_by_id(session, operation_id=op.id, for_update=True)
            if locked is None:
                return
            if rows and not OperationStatus(locked.status).is_final:
                await self._books.claim(session, locked, rows)
            if change is not None:
                stages.project(session, locked, change, from_stage=from_stage)

    @activity.defn(name=t.UPDATE)
    async def update_operation(self, inp: t.OperationUpdate) -> None:
        """Apply a projection change (stage, status, depth, error, wait) with its audit row; a
        ``failed``/``cancelled`` status unwinds the deposit in the books, ``release_outpoint``
        frees its unique keys. Off the lean path's happy path: parking, operator steering, the end
        of a disproved or cancelled claim, and every stage of runs started before that path.

        Raises:
            ApplicationError ``OperationMissing``; ``IllegalTransition`` (non-retryable) for a
            status change the lifecycle forbids.
        """
        change = StageChange(
            stage=inp.stage, status=inp.status, confirmations=inp.confirmations,
            required_confirmations=inp.required_confirmations, error=inp.error, clear_error=inp.clear_error,
            waiting_for=inp.waiting_for, wait_reason=inp.wait_reason, clear_waiting=inp.clear_waiting,
            audit_action=inp.audit_action, actor_id=uuid.UUID(inp.actor_id) if inp.actor_id else None, reason=inp.reason,
        )
        async with transaction(self._sessions) as session:
            op = await stages.locked_operation(session, inp.operation_id)
            before = operations.snapshot(op)
            try:
                operations.apply_change(op, change)
            except IllegalTransition as exc:  # a code bug, never fixed by retrying
                raise ApplicationError(str(exc), type="IllegalTransition", non_retryable=True) from exc
            released = 0
            if inp.status in (OperationStatus.FAILED.value, OperationStatus.CANCELLED.value):
                released = await self._books.unwind(session, op)
            if inp.release_outpoint and op.outpoint is not None:
                # Free both unique keys, so the output can still be credited to whoever it pays.
                op.meta = {**(op.meta or {}), "released_outpoint": op.outpoint}
                op.outpoint, op.idempotency_key = None, f"{op.idempotency_key}#released:{op.id}"
                op.updated_at = utcnow()
            operations.record_change(
                session, op, before, change, extra={"released_to_pending_receipts_sats": released} if released else None,
            )

    @activity.defn(name=t.MINT)
    async def mint_deposit(self, inp: t.MintInput) -> t.MintResult:
        """Mint through ``integration_router.execute_bitcoin_deposit``, at most once per operation.

        DuplicateOperation (42) means this outpoint was minted already: the stored hash is
        returned with ``already_minted``. SystemPaused (50) is retried; a KYC refusal or any other
        contract error parks the deposit (``compliance_check_failed``, ``insufficient_kyc_tier``,
        ``mint_rejected``). With ``inp.project`` the row moves to ``minting`` first.
        """
        if inp.project:
            async with transaction(self._sessions) as session:
                op = await stages.locked_operation(session, inp.operation_id)
                stages.project(session, op, stages.entered(OperationStage.MINTING))
        else:
            async with self._sessions() as session:
                op = await self._operation(session, inp.operation_id)
        user = (op.meta or {}).get("stellar_address", "")
        key = mint_submission_key(inp.operation_id)

        async def invoke(store):  # type: ignore[no-untyped-def]
            return await self._contracts.router.execute_bitcoin_deposit(
                user, inp.amount_sats, bytes.fromhex(inp.txid), inp.vout, inp.confirmations, inp.block_height,
                store=store,
            )

        submit = self._submitter.submit_once(
            key, contract="integration_router", function="execute_bitcoin_deposit", invoke=invoke
        )
        try:
            record = await with_heartbeats(submit)
        except ContractError as exc:
            if exc.code == DUPLICATE_OPERATION:
                row = await submissions.get_by_key(self._sessions, idempotency_key=key)
                log.warning("deposit %s: outpoint already minted on chain", inp.operation_id)
                return t.MintResult(stellar_tx_hash=row.tx_hash if row else None, already_minted=True)
            if exc.code == SYSTEM_PAUSED:
                raise ApplicationError("integration_router is paused", type="RouterPaused") from exc
            reason = _ROUTER_ATTENTION.get(exc.code, AttentionReason.MINT_REJECTED)
            raise _attention(reason, str(exc)) from exc
        except SorobanError as exc:
            raise soroban_failure(exc) from exc
        return t.MintResult(stellar_tx_hash=record["tx_hash"])

    @activity.defn(name=t.CREDIT)
    async def credit_deposit(self, inp: t.CreditInput) -> None:
        """Post the deposit's credit in the books (``token_balances`` follows), complete the
        operation and audit it, in one transaction.

        Idempotent: an operation already ``completed`` is left as it is.
        """
        async with transaction(self._sessions) as session:
            op = await self._operation(session, inp.operation_id, for_update=True)
            if op.status == OperationStatus.COMPLETED.value:
                return
            before = operations.snapshot(op)
            await self._books.credit(session, op)
            credited = balance(await ledger.account(session, e.user_istsi(op.user_id)))
            now = utcnow()
            op.status, op.stage, op.error = OperationStatus.COMPLETED.value, inp.stage, None
            op.stellar_tx_hash, op.completed_at, op.updated_at = inp.stellar_tx_hash, now, now
            record_audit(
                session, action="deposit.credited", resource_type="operation", resource_id=op.id,
                old_values=before, new_values={**operations.snapshot(op), "amount": op.amount, "balance": credited},
            )
