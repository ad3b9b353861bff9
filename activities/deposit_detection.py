"""Automatic deposit detection: credit BTC that reached a deposit address without a POST.

One activity scans every assigned deposit address on Esplora. A confirmed output that no
operation holds becomes a ``pending`` deposit (source ``detection``) and its workflow starts,
exactly as if the user had posted it; the unique outpoint makes a race with a concurrent POST
harmless (one insert wins, both converge on one workflow). The scan also restarts workflows of
deposits still at ``received`` after a grace period (an API process that died between its commit
and its workflow start).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity

from activities import deposit_types as t
from chains.bitcoin.esplora import EsploraClient
from chains.bitcoin.esplora_types import AddressUtxo
from config.settings import Settings
from db.audit import record_audit
from db.models import DepositAddress, User
from db.models.base import utcnow
from db.queries import operations
from db.queries.operations import NewDeposit
from db.session import transaction
from domain.operations import OperationStage
from domain.workflow_ids import deposit_idempotency_key, deposit_workflow_id
from workflows.deposit_start import start_deposit_workflow

log = logging.getLogger(__name__)
SCAN_CONCURRENCY = 8


class DepositDetection:
    """The scan activity over one worker's clients."""

    def __init__(
        self, *, settings: Settings, sessions: async_sessionmaker[AsyncSession], esplora: EsploraClient
    ) -> None:
        self._settings = settings
        self._sessions = sessions
        self._esplora = esplora

    def all(self) -> list[Callable[..., Awaitable[Any]]]:
        return [self.scan_deposit_addresses]

    @activity.defn(name=t.SCAN)
    async def scan_deposit_addresses(self, inp: t.ScanInput) -> t.ScanResult:
        """Record and start deposits for unclaimed confirmed outputs; heal stuck starts.

        Outputs below ``deposits.minimum_sats`` and owners without a Stellar address are skipped
        (logged): they cannot be minted. Raises chain errors (retried by the schedule's next run).
        """
        async with self._sessions() as session:
            owners = (
                await session.execute(
                    select(DepositAddress.address, DepositAddress.user_id, User.stellar_address).join(
                        User, User.id == DepositAddress.user_id
                    )
                )
            ).all()
        gate = asyncio.Semaphore(SCAN_CONCURRENCY)

        async def confirmed_utxos(address: str) -> list[AddressUtxo]:
            async with gate:
                utxos = await self._esplora.address_utxos(address)
            activity.heartbeat()
            return [u for u in utxos if u.status.confirmed]

        found = await asyncio.gather(*(confirmed_utxos(o.address) for o in owners))
        candidates = [(owner, utxo) for owner, utxos in zip(owners, found, strict=True) for utxo in utxos]
        async with self._sessions() as session:
            held = await operations.held_outpoints(session, outpoints=[u.outpoint for _, u in candidates])
        recorded = started = 0
        for owner, utxo in candidates:
            if utxo.outpoint in held:
                continue
            inp_ = await self._record(owner.user_id, owner.stellar_address, utxo)
            if inp_ is not None:
                recorded += 1
                started += await self._start(inp_)
        started += await self._heal(timedelta(seconds=inp.grace_seconds))
        return t.ScanResult(addresses=len(owners), recorded=recorded, started=started)

    async def _record(self, user_id: uuid.UUID, stellar_address: str | None, utxo: AddressUtxo) -> t.DepositInput | None:
        if not stellar_address:
            log.warning("deposit %s waits: its owner has no Stellar address", utxo.outpoint)
            return None
        if utxo.amount_sats < self._settings.deposits.minimum_sats:
            log.warning("deposit %s below the minimum (%d sats): not credited", utxo.outpoint, utxo.amount_sats)
            return None
        new = NewDeposit(
            user_id=user_id, txid=utxo.txid, vout=utxo.vout, amount_sats=utxo.amount_sats,
            idempotency_key=deposit_idempotency_key(utxo.txid, utxo.vout),
            workflow_id=deposit_workflow_id(utxo.txid, utxo.vout),
            token_address=self._settings.soroban.contracts.istsi_token,
            stellar_address=stellar_address, source="detection",
        )
        async with transaction(self._sessions) as session:
            op = await operations.insert_deposit(session, new)
            if op is None:
                return None  # a concurrent POST or scan recorded it first
            record_audit(
                session, action="deposit.detected", resource_type="operation", resource_id=op.id,
                new_values={"outpoint": op.outpoint, "amount": op.amount, "source": "detection",
                            "status": op.status, "stage": op.stage},
            )
        return t.DepositInput(str(op.id), str(user_id), utxo.txid, utxo.vout, utxo.amount_sats)

    async def _start(self, inp: t.DepositInput) -> int:
        return int(await start_deposit_workflow(activity.client(), inp, task_queue=activity.info().task_queue))

    async def _heal(self, grace: timedelta) -> int:
        cutoff = utcnow() - grace
        async with self._sessions() as session:
            stuck = [
                op for op in await operations.list_unfinished_deposits(session)
                if op.stage == OperationStage.RECEIVED.value and op.created_at < cutoff and op.outpoint
            ]
        started = 0
        for op in stuck:
            txid, vout = op.outpoint.rsplit(":", 1)  # type: ignore[union-attr]
            started += await self._start(t.DepositInput(str(op.id), str(op.user_id), txid, int(vout), op.amount or 0))
        return started
