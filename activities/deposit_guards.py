"""Deposit activities that guard the token supply: the solvency check before a mint, and the
alarm when a minted deposit leaves the chain (flag, alert, pause minting).

Both are idempotent, keyed by the operation id; the alarm's writes share one transaction with
their audit rows.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities import deposit_types as t
from activities.chain_errors import soroban_failure
from chains.bitcoin.esplora import EsploraClient
from chains.soroban import Contracts
from chains.soroban.errors import SorobanError
from db.audit import record_audit
from db.models import DepositAddress
from db.models.base import utcnow
from db.queries import operations, system_state
from db.session import transaction
from domain.deposits import AttentionReason, Insolvent, SolvencyView, check_solvency
from domain.operations import OperationStage
from domain.pause import PauseState

log = logging.getLogger(__name__)
#: Esplora requests in flight at once while summing custody UTXOs.
SCAN_CONCURRENCY = 8


class DepositGuards:
    """Solvency guard and vanished-deposit alarm over one worker's clients."""

    def __init__(
        self, *, sessions: async_sessionmaker[AsyncSession], esplora: EsploraClient, contracts: Contracts
    ) -> None:
        self._sessions = sessions
        self._esplora = esplora
        self._contracts = contracts

    def all(self) -> list[Callable[..., Awaitable[Any]]]:
        return [self.check_solvency, self.flag_vanished]

    @activity.defn(name=t.CHECK_SOLVENCY)
    async def check_solvency(self, inp: t.SolvencyInput) -> None:
        """Custody BTC after this deposit must cover the token supply after this mint plus pending
        withdrawals (``domain.deposits.check_solvency``).

        Custody BTC is the confirmed UTXOs of every deposit address, this outpoint excluded.

        Raises:
            ApplicationError ``solvency_guard`` (non-retryable: an operator must look).
        """
        async with self._sessions() as session:
            addresses = list((await session.execute(select(DepositAddress.address))).scalars())
        gate = asyncio.Semaphore(SCAN_CONCURRENCY)
        own = f"{inp.txid}:{inp.vout}"

        async def held(address: str) -> int:
            async with gate:
                utxos = await self._esplora.address_utxos(address)
            return sum(u.amount_sats for u in utxos if u.status.confirmed and u.outpoint != own)

        custody = sum(await asyncio.gather(*(held(a) for a in addresses)))
        try:
            supply = await self._contracts.token.total_supply()
            pending = await self._contracts.reserve.get_pending_withdrawals()
        except SorobanError as exc:
            raise soroban_failure(exc) from exc
        try:
            check_solvency(SolvencyView(custody, supply, pending), inp.amount_sats)
        except Insolvent as exc:
            log.error("solvency guard stopped deposit %s: %s", inp.operation_id, exc)
            raise ApplicationError(str(exc), type=AttentionReason.SOLVENCY_GUARD.value, non_retryable=True) from exc

    @activity.defn(name=t.FLAG_VANISHED)
    async def flag_vanished(self, inp: t.FlagInput) -> None:
        """A minted deposit left the chain: flag the operation, alert, and pause minting
        (idempotent; the pause keeps any withdrawals switch as it was)."""
        async with transaction(self._sessions) as session:
            op = await operations.get_by_id(session, operation_id=uuid.UUID(inp.operation_id), for_update=True)
            if op is None:
                raise ApplicationError(f"operation {inp.operation_id} does not exist", type="OperationMissing", non_retryable=True)
            if (op.meta or {}).get("vanished_after_mint"):
                return
            before = operations.snapshot(op)
            op.meta = {**(op.meta or {}), "vanished_after_mint": inp.detail}
            op.stage, op.error = OperationStage.NEEDS_ATTENTION.value, AttentionReason.REORGED_AFTER_MINT.value
            op.updated_at = utcnow()
            current = await system_state.get_pause(session)
            reason = f"deposit {op.outpoint or op.id} left the chain after minting"
            await system_state.set_pause(
                session, state=PauseState(minting=True, withdrawals=current.withdrawals, reason=reason), actor_id=None
            )
            record_audit(
                session, action="deposit.reorged_after_mint", resource_type="operation", resource_id=op.id,
                old_values=before, new_values={**operations.snapshot(op), "detail": inp.detail},
            )
            record_audit(
                session, action="system.paused", resource_type="system_state", resource_id="pause",
                new_values={"minting": True, "withdrawals": current.withdrawals, "reason": reason},
            )
        log.error("ALERT: minted deposit %s vanished from the chain (%s); minting paused", inp.operation_id, inp.detail)
