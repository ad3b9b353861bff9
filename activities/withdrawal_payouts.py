"""Withdrawal activities on Bitcoin, and the worker's set of payout activities.

Batches (``WithdrawalWorkflow`` after patch ``payout-batches``): a burned withdrawal joins the
queue and follows its batch (:mod:`activities.payout_batches`); ``PayoutWorkflow`` signs,
broadcasts, bumps and settles each batch (:mod:`activities.payout_chain`).

The activities of this module serve withdrawals that started before batches, whose workflow
builds and sends a payout of its own; they run on the same tables: the payout is a batch of one,
made at once.

No double send, by construction: ``prepare_payout`` stores the payout (signed, or waiting for
external signatures) with its reservations and bookings before anything is broadcast, and a
retry returns the stored one; ``broadcast_payout`` sends the stored bytes (a lost answer is
resolved by the txid); ``check_payout`` reads the depth of whichever version confirmed and
re-sends a payout the mempool lost (same txid).

Fee rule: see :mod:`domain.withdrawals` (the user pays the network fee).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.payout_batches import PayoutBatchActivities
from activities.payout_chain import PayoutChainActivities
from activities.withdrawal_support import load_operation
from chains.bitcoin.errors import PsbtMismatch, SignerError
from chains.bitcoin.esplora import EsploraClient
from chains.bitcoin.signers import Signer
from chains.bitcoin.wallet import CustodyWallet
from config.settings import Settings
from contracts import payouts as pt
from contracts import withdrawals as t
from db.models import Payout
from db.queries import payouts as pq
from db.session import transaction
from domain.bitcoin_payout import PayoutError

log = logging.getLogger(__name__)


class PayoutActivities:
    """Every payout activity of the worker (batches, payout workflow, pre-batch withdrawals)."""

    def __init__(
        self, *, settings: Settings, sessions: async_sessionmaker[AsyncSession], esplora: EsploraClient,
        wallet: CustodyWallet, signer: Signer | None = None,
    ) -> None:
        self._settings = settings
        self._sessions = sessions
        self.batches = PayoutBatchActivities(settings=settings, sessions=sessions, esplora=esplora, wallet=wallet,
                                             signer=signer)
        self.chain = PayoutChainActivities(settings=settings, sessions=sessions, esplora=esplora, wallet=wallet,
                                           batches=self.batches)

    def all(self) -> list[Callable[..., Awaitable[Any]]]:
        return [self.prepare_payout, self.accept_signed_psbt, self.broadcast_payout, self.check_payout,
                *self.batches.all(), *self.chain.all()]

    async def _state(self, session: AsyncSession, payout: Payout, operation_id: uuid.UUID) -> t.PayoutState:
        version = await pq.version(session, payout.id, payout.current_version)
        item = await pq.item_of(session, operation_id=operation_id)
        assert version is not None and item is not None
        return t.PayoutState(payout.status, version.parent_txid, item.recipient_sats or 0, item.fee_share_sats or 0,
                             version.psbt)

    async def _payout_of(self, session: AsyncSession, operation_id: str, *, for_update: bool = False) -> Payout | None:
        item = await pq.item_of(session, operation_id=uuid.UUID(operation_id))
        if item is None or item.payout_id is None:
            return None
        return await pq.get(session, item.payout_id, for_update=for_update)

    @activity.defn(name=t.PREPARE_PAYOUT)
    async def prepare_payout(self, ref: t.OperationRef) -> t.PayoutState:
        """Build (and with the hot signer, sign) a payout of this withdrawal alone and store it;
        return the stored one on every later call.

        Raises:
            ApplicationError ``payout_unbuildable`` (non-retryable): funds, dust, address or
            signing refused; ``signer_unavailable``. ChainError: Esplora unavailable (retried).
        """
        self.batches.signer()
        async with transaction(self._sessions) as session:
            await pq.lock_batching(session)
            op = await load_operation(session, ref.operation_id, for_update=True)
            payout = await self._payout_of(session, ref.operation_id)
            if payout is not None:
                return await self._state(session, payout, op.id)
            meta = op.meta or {}
            item = await pq.enqueue(session, operation_id=op.id, recipient_address=meta["btc_address"],
                                    amount_sats=op.amount or 0, asap=True)
            try:
                payout = await self.batches.builder.cut(session, [item], asap=True, legacy_operation_id=op.id)
            except (PayoutError, SignerError) as exc:
                raise ApplicationError(str(exc), {"code": exc.code}, type=t.PAYOUT_UNBUILDABLE, non_retryable=True) from exc
            if payout is None:
                if item.status == "failed":
                    raise ApplicationError(item.error or "no payout can pay this withdrawal", {"code": item.error},
                                           type=t.PAYOUT_UNBUILDABLE, non_retryable=True)
                await session.delete(item)  # outputs are tied up in unconfirmed payouts: try again later
                return t.PayoutState(t.FUNDS_PENDING, "", 0, 0, "")
            return await self._state(session, payout, op.id)

    @activity.defn(name=t.ACCEPT_SIGNED_PSBT)
    async def accept_signed_psbt(self, inp: t.SignedPsbtInput) -> t.PayoutState:
        """Check an externally signed PSBT against the stored payout; store it at the quorum.

        Raises ApplicationError ``invalid_signed_psbt`` (non-retryable): other inputs or outputs,
        missing, foreign, duplicate or bad signatures, or the payout is not awaiting a signature.
        """
        async with transaction(self._sessions) as session:
            op = await load_operation(session, inp.operation_id, for_update=True)
            payout = await self._payout_of(session, inp.operation_id, for_update=True)
            version = await pq.version(session, payout.id, payout.current_version, for_update=True) if payout else None
            if payout is None or version is None or version.status != "awaiting_signature":
                if payout is not None and version is not None and version.tx_hex is not None:
                    return await self._state(session, payout, op.id)  # a retry after commit
                raise ApplicationError("no payout awaits a signature", type=t.INVALID_SIGNED_PSBT, non_retryable=True)
            try:
                await self.batches.builder.accept(session, payout, version, inp.psbt, inp.operator_id)
            except (SignerError, PsbtMismatch) as exc:
                raise ApplicationError(str(exc), {"code": exc.code}, type=t.INVALID_SIGNED_PSBT, non_retryable=True) from exc
            if version.tx_hex is None:
                raise ApplicationError(f"{version.signatures_required} signatures are needed; the quorum is not met",
                                       {"code": "incomplete_signatures"}, type=t.INVALID_SIGNED_PSBT, non_retryable=True)
            return await self._state(session, payout, op.id)

    @activity.defn(name=t.BROADCAST)
    async def broadcast_payout(self, ref: t.OperationRef) -> str:
        """Broadcast the stored transaction (idempotent); mark it ``broadcast``; return the txid.

        Raises:
            ApplicationError ``payout_rejected`` (non-retryable): the node refused it and does
            not know it. ChainError: Esplora unavailable and the txid not found (retried).
        """
        async with self._sessions() as session:
            payout = await self._payout_of(session, ref.operation_id)
        if payout is None:
            raise ApplicationError("the payout is not signed", type="withdrawal_state_conflict", non_retryable=True)
        await self.chain.broadcast_version(pt.BroadcastInput(str(payout.id), payout.current_version))
        async with self._sessions() as session:
            payout = await self._payout_of(session, ref.operation_id)
        assert payout is not None and payout.txid is not None
        return payout.txid

    @activity.defn(name=t.CHECK_PAYOUT)
    async def check_payout(self, ref: t.OperationRef) -> t.PayoutDepth:
        """Depth of whichever version of the payout confirmed; re-send it if the chain lost it."""
        async with self._sessions() as session:
            payout = await self._payout_of(session, ref.operation_id)
        if payout is None:
            raise ApplicationError("the payout is not signed", type="withdrawal_state_conflict", non_retryable=True)
        progress = await self.chain.follow(pt.PayoutRef(str(payout.id)))
        if progress.winner is None:
            return t.PayoutDepth(0, None)
        return t.PayoutDepth(progress.confirmations, progress.block_height)
