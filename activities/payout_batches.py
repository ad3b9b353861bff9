"""The withdrawal's side of a batch: join the queue, close due batches, follow the payout, leave.

``join_payout_batch`` is idempotent and called in a loop by each burned withdrawal: the first
call queues it (``payout_items``, one per withdrawal); every call closes the batches that are
due (:func:`domain.payout_batches.due_batches`, under one advisory lock, each batch built,
signed and stored by :class:`PayoutBuilder` in one transaction) and starts each new payout's
``PayoutWorkflow`` (``payout-<payout id>``), which broadcasts, follows, bumps and settles it.
A withdrawal makes sure once that its payout's workflow runs (a crash between the commit and the
start is healed by the next call). The answer says where the withdrawal's payout stands.

``leave_payout_batch`` takes a cancelled withdrawal out: from the queue, or out of a payout that
was never signed (that payout is abandoned and its other withdrawals queue again, first in
line). Once its payout is signed a withdrawal cannot leave.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError

from activities.payout_building import PayoutBuilder
from activities.withdrawal_support import audit, load_operation
from chains.bitcoin.errors import SignerError, WalletError
from chains.bitcoin.esplora import EsploraClient
from chains.bitcoin.setup import payout_signer
from chains.bitcoin.signers import Signer
from chains.bitcoin.wallet import CustodyWallet
from config.settings import Settings
from contracts import payouts as t
from contracts.starters import start_payout
from db.models import PayoutItem
from db.models.base import utcnow
from db.queries import payouts as pq
from db.queries.operations import snapshot
from db.session import transaction
from domain.payout_batches import QueuedWithdrawal, due_batches, seconds_until_due
from domain.withdrawals import PayoutPriority

log = logging.getLogger(__name__)
PAYOUT_UNBUILDABLE = "payout_unbuildable"


class PayoutBatchActivities:
    """Queue and batch activities over one worker's clients (see :meth:`all`)."""

    def __init__(self, *, settings: Settings, sessions: async_sessionmaker[AsyncSession], esplora: EsploraClient,
                 wallet: CustodyWallet, signer: Signer | None = None) -> None:
        self._settings = settings
        self._sessions = sessions
        self._signer = signer
        self.builder = PayoutBuilder(settings=settings, esplora=esplora, wallet=wallet, signer=self.signer)

    def all(self) -> list[Callable[..., Awaitable[Any]]]:
        return [self.join_batch, self.leave_batch]

    def signer(self) -> Signer:
        """The configured signer, built on first use (a hot signer without its key refuses)."""
        if self._signer is None:
            try:
                self._signer = payout_signer(self._settings.bitcoin, self.builder.wallet)
            except (WalletError, SignerError) as exc:
                raise ApplicationError(str(exc), type="signer_unavailable", non_retryable=True) from exc
        return self._signer

    # ---- cutting ----------------------------------------------------------------------------------
    def _queue_view(self, items: list[PayoutItem]) -> list[QueuedWithdrawal]:
        return [QueuedWithdrawal(str(i.id), i.queued_at, i.asap) for i in items]

    async def cut_due(self, session: AsyncSession) -> list[uuid.UUID]:
        """Close every due batch (caller's transaction); the ids of the payouts made. When another
        withdrawal is cutting right now, nothing: it takes every due one (the queue does not pile
        up behind one lock, each holding a connection)."""
        w = self._settings.withdrawals
        if not await pq.try_lock_batching(session):
            return []
        queued = await pq.queued(session)
        by_id = {str(i.id): i for i in queued}
        made = []
        for batch in due_batches(self._queue_view(queued), now=utcnow(), interval_seconds=w.batch_interval_seconds,
                                 max_outputs=w.batch_max_outputs):
            members = [by_id[i] for i in batch]
            try:
                payout = await self.builder.cut(session, members, asap=all(m.asap for m in members))
            except SignerError as exc:  # not the withdrawals' fault: an operator must look
                raise ApplicationError(str(exc), {"code": exc.code}, type="signer_unavailable",
                                       non_retryable=True) from exc
            if payout is not None:
                made.append(payout.id)
        return made

    async def start_payout_workflow(self, payout_id: uuid.UUID | str) -> None:
        """Start ``payout-<id>`` unless it runs (or completed) already."""
        await start_payout(
            activity.client(), t.PayoutInput(str(payout_id)), task_queue=activity.info().task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
        )

    # ---- the withdrawal's activities --------------------------------------------------------------
    @activity.defn(name=t.JOIN_BATCH)
    async def join_batch(self, inp: t.JoinInput) -> t.ItemState:
        """Queue the withdrawal (first call), close due batches, report its payout (idempotent).

        Raises:
            ApplicationError ``payout_unbuildable`` (non-retryable): the signer refused;
            ``signer_unavailable``. ChainError: Esplora unavailable (retried).
        """
        self.signer()
        operation_id = uuid.UUID(inp.operation_id)
        async with self._sessions() as session:
            known = await pq.item_of(session, operation_id=operation_id)
        if known is None:
            async with transaction(self._sessions) as session:
                op = await load_operation(session, inp.operation_id, for_update=True)
                meta = op.meta or {}
                item = await pq.enqueue(session, operation_id=op.id, recipient_address=meta["btc_address"],
                                        amount_sats=op.amount or 0, asap=meta.get("payout_priority") == PayoutPriority.ASAP)
                if not meta.get("payout_queued"):
                    before = snapshot(op)
                    op.meta = {**meta, "payout_queued": True}
                    audit(session, op, "withdrawal.payout_queued", before, extra={"asap": item.asap})
        made: list[uuid.UUID] = []
        async with self._sessions() as session:
            before_cut = await self.state(session, operation_id)
        if before_cut.status == t.QUEUED and before_cut.due_in_seconds == 0:
            async with transaction(self._sessions) as session:
                made = await self.cut_due(session)
        for payout_id in made:
            await self.start_payout_workflow(payout_id)
        async with self._sessions() as session:
            state = await self.state(session, uuid.UUID(inp.operation_id))
        if state.payout_id and state.payout_id != inp.known_payout_id and state.payout_id not in map(str, made) \
                and state.status in (t.AWAITING_SIGNATURE, t.SIGNED, t.BROADCAST):
            await self.start_payout_workflow(state.payout_id)
        return state

    async def state(self, session: AsyncSession, operation_id: uuid.UUID) -> t.ItemState:
        """Where the withdrawal's payout stands (:class:`contracts.payouts.ItemState`)."""
        item = await pq.item_of(session, operation_id=operation_id)
        if item is None:
            return t.ItemState(t.QUEUED)
        if item.status in (t.CANCELLED, t.FAILED):
            return t.ItemState(item.status, error=item.error)
        if item.status == "queued" or item.payout_id is None:
            w = self._settings.withdrawals
            due = seconds_until_due(self._queue_view(await _queued_snapshot(session)), now=utcnow(),
                                    interval_seconds=w.batch_interval_seconds, max_outputs=w.batch_max_outputs)
            return t.ItemState(t.QUEUED, due_in_seconds=due)
        payout = await pq.get(session, item.payout_id)
        assert payout is not None
        return t.ItemState(
            payout.status, payout_id=str(payout.id), txid=payout.txid, vout=item.vout, fee_share_sats=item.fee_share_sats,
            recipient_sats=item.recipient_sats, confirmations=payout.confirmations, block_height=payout.confirmed_height,
        )

    @activity.defn(name=t.LEAVE_BATCH)
    async def leave_batch(self, inp: t.LeaveInput) -> t.LeaveResult:
        """Take a cancelled withdrawal out of the queue or out of an unsigned payout (idempotent)."""
        async with transaction(self._sessions) as session:
            await pq.lock_batching(session)
            op = await load_operation(session, inp.operation_id, for_update=True)
            item = await pq.item_of(session, operation_id=op.id, for_update=True)
            if item is None or item.status in ("cancelled", "failed"):
                return t.LeaveResult(True, item.status if item else "none")
            if item.status == "batched" and item.payout_id is not None:
                payout = await pq.get(session, item.payout_id, for_update=True)
                assert payout is not None
                if payout.status != "awaiting_signature":
                    return t.LeaveResult(False, payout.status)
                first = await pq.version(session, payout.id, 0, for_update=True)
                assert first is not None
                item.status, item.payout_id = "cancelled", None  # not re-queued with the others
                await self.builder.books.abandon_version(session, payout, first, reason="a withdrawal left the batch")
            elif item.status == "paid":
                return t.LeaveResult(False, "confirmed")
            before = snapshot(op)
            item.status, item.error, item.updated_at = "cancelled", inp.reason or "cancelled", utcnow()
            audit(session, op, "withdrawal.left_batch", before, actor_id=inp.actor_id, reason=inp.reason)
            return t.LeaveResult(True, "cancelled")


async def _queued_snapshot(session: AsyncSession) -> list[PayoutItem]:
    from sqlalchemy import select

    stmt = select(PayoutItem).where(PayoutItem.status == "queued").order_by(PayoutItem.queued_at, PayoutItem.id)
    return list((await session.execute(stmt)).scalars())

