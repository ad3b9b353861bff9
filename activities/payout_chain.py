"""``PayoutWorkflow``'s activities: one payout (a batch transaction and its versions) from its
signatures to its settlement.

* ``accept_payout_signatures``: an external signer's contribution (admin API → workflow update).
* ``broadcast_payout_version``: send the *stored* bytes of a signed version (a CPFP version sends
  its parent first). Esplora treats an already-known transaction as success; a lost answer is
  resolved by looking the txid up. A bump the node refuses is abandoned (its bookings undone, the
  version before it current again); version 0 refused parks for an operator.
* ``follow_payout``: what the chain shows of every signed version, which one won
  (:func:`domain.fee_bumps.winner`) and how deep, whether a bump is due; a current version that
  fell out of the mempool is sent again (same bytes, same txid).
* ``bump_payout``: the next version (:class:`activities.payout_bumps.BumpPlanner`).
* ``settle_payout``: the version that confirmed is deep enough: the books and the UTXO set
  follow it (:meth:`activities.payout_books.PayoutBooks.settle`).

Every write commits with its audit row; every activity is idempotent (keyed by payout id and
version number).
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.payout_batches import PayoutBatchActivities
from activities.payout_bumps import BumpPlanner
from activities.withdrawal_support import audit
from chains.bitcoin import psbt_roles
from chains.bitcoin.errors import ChainUnavailable, PsbtMismatch, SignerError, TxNotFound, TxRejected
from chains.bitcoin.esplora import EsploraClient
from chains.bitcoin.wallet import CustodyWallet
from config.settings import Settings
from contracts import payouts as t
from db.models import Payout, PayoutVersion
from db.models.base import utcnow
from db.queries import operations
from db.queries import payouts as pq
from db.session import transaction
from domain.fee_bumps import BumpRefused, VersionView, Winner, bump_due, winner

log = logging.getLogger(__name__)
#: Refusals of a contribution that mean "already there" (409), the rest are invalid (422).
DUPLICATE_CODES = ("duplicate_signature", "signer_already_signed")


class PayoutChainActivities:
    """The payout workflow's steps over one worker's Esplora client and custody wallet."""

    def __init__(self, *, settings: Settings, sessions: async_sessionmaker[AsyncSession], esplora: EsploraClient,
                 wallet: CustodyWallet, batches: PayoutBatchActivities) -> None:
        self._settings = settings
        self._sessions = sessions
        self._esplora = esplora
        self._builder = batches.builder
        self._books = batches.builder.books
        self._bumps = BumpPlanner(batches.builder)
        self._batches = batches

    def all(self) -> list[Callable[..., Awaitable[Any]]]:
        return [self.plan, self.accept_signatures, self.broadcast_version, self.follow, self.bump, self.settle]

    @activity.defn(name=t.PAYOUT_PLAN)
    async def plan(self, ref: t.PayoutRef) -> t.PayoutFlowPlan:
        """Fix depth, timings and the bump delay from configuration."""
        w, b = self._settings.withdrawals, self._settings.bitcoin
        return t.PayoutFlowPlan(w.payout_confirmations, w.poll_interval_seconds, w.activity_timeout_seconds,
                                w.activity_max_attempts, b.fee_bump_after_blocks)

    async def _payout(self, session: AsyncSession, payout_id: str, *, for_update: bool = False) -> Payout:
        payout = await pq.get(session, uuid.UUID(payout_id), for_update=for_update)
        if payout is None:
            raise ApplicationError(f"payout {payout_id} does not exist", type="PayoutMissing")
        return payout

    # ---- signatures -----------------------------------------------------------------------------
    @activity.defn(name=t.ACCEPT_SIGNATURES)
    async def accept_signatures(self, inp: t.SignaturesInput) -> t.SignaturesResult:
        """Check and merge one signer's partially signed PSBT; finalize when the quorum is met.

        Raises ApplicationError ``invalid_signed_psbt`` (non-retryable, ``details[0].code``:
        ``foreign_signature``, ``duplicate_signature``, ``signer_already_signed``,
        ``invalid_signature``, ``one_key_per_contribution``, ``incomplete_contribution``,
        ``psbt_mismatch``, ``invalid_psbt``) or ``not_awaiting_signature``.
        """
        async with transaction(self._sessions) as session:
            payout = await self._payout(session, inp.payout_id, for_update=True)
            version = await pq.version(session, payout.id, inp.version, for_update=True)
            if version is None or version.status != "awaiting_signature":
                raise ApplicationError(f"version {inp.version} of the payout awaits no signature",
                                       type=t.NOT_AWAITING_SIGNATURES, non_retryable=True)
            try:
                await self._builder.accept(session, payout, version, inp.psbt, inp.operator_id)
            except (SignerError, PsbtMismatch) as exc:
                raise ApplicationError(str(exc), {"code": exc.code}, type=t.INVALID_SIGNATURES, non_retryable=True) from exc
            signed = len(psbt_roles.signed_keys(self._builder.wallet, version.psbt))
            return t.SignaturesResult(version.version, signed, version.signatures_required, version.status, version.txid)

    # ---- broadcast ------------------------------------------------------------------------------
    async def _send(self, tx_hex: str, txid: str) -> None:
        try:
            await self._esplora.broadcast(tx_hex)
        except ChainUnavailable:
            await self._esplora.transaction_status(txid)  # TxNotFound → retried, same bytes
            log.warning("broadcast of %s had no answer, but the chain knows it", txid)

    @activity.defn(name=t.BROADCAST_VERSION)
    async def broadcast_version(self, inp: t.BroadcastInput) -> str:
        """Broadcast the stored version (idempotent); returns its status afterwards (``broadcast``,
        or ``abandoned`` for a bump the node refused).

        Raises:
            ApplicationError ``payout_rejected`` (non-retryable): the node refused version 0.
            ChainError: Esplora unavailable and the txid not found (retried).
        """
        async with self._sessions() as session:
            payout = await self._payout(session, inp.payout_id)
            version = await pq.version(session, payout.id, inp.version)
            parent = await self._parent(session, version) if version is not None else None
        if version is None or version.tx_hex is None:
            raise ApplicationError("the payout version is not signed", type="withdrawal_state_conflict", non_retryable=True)
        if version.status != "signed":
            return version.status
        try:
            if version.kind == "cpfp" and parent is not None and parent.tx_hex:
                with contextlib.suppress(TxRejected):  # confirmed already, or in the mempool: the child says
                    await self._send(parent.tx_hex, parent.txid)
            await self._send(version.tx_hex, version.txid)
        except TxRejected as exc:
            if version.version == 0:
                raise ApplicationError(exc.reason, type="payout_rejected", non_retryable=True) from exc
            async with transaction(self._sessions) as session:
                payout = await self._payout(session, inp.payout_id, for_update=True)
                version = await pq.version(session, payout.id, inp.version, for_update=True)
                assert version is not None
                if version.status == "signed":
                    await self._books.abandon_version(session, payout, version, reason=exc.reason)
                return version.status
        tip = await self._esplora.tip_height()
        async with transaction(self._sessions) as session:
            payout = await self._payout(session, inp.payout_id, for_update=True)
            version = await pq.version(session, payout.id, inp.version, for_update=True)
            assert version is not None
            if version.status == "signed":
                now = utcnow()
                version.status, version.broadcast_height, version.updated_at = "broadcast", tip, now
                if payout.status == "signed":
                    payout.status, payout.updated_at = "broadcast", now
                    await self._broadcast_on_operations(session, payout, "withdrawal.payout_broadcast")
                elif version.kind == "rbf":  # the recipients' txid changed: the one to watch now
                    await self._broadcast_on_operations(session, payout, "withdrawal.payout_replaced")
            return version.status

    async def _broadcast_on_operations(self, session: AsyncSession, payout: Payout, action: str) -> None:
        """Each withdrawal of the payout shows the txid paying it (audited)."""
        for item in await pq.items_of(session, payout.id):
            op = await operations.get_by_id(session, operation_id=item.operation_id, for_update=True)
            assert op is not None
            before = operations.snapshot(op)
            op.btc_tx_hash, op.updated_at = payout.txid, utcnow()
            audit(session, op, action, before, extra={"txid": payout.txid, "vout": item.vout, "payout_id": str(payout.id)})

    async def _parent(self, session: AsyncSession, version: PayoutVersion) -> PayoutVersion | None:
        for v in await pq.versions(session, version.payout_id):
            if v.txid == version.parent_txid:
                return v
        return None

    # ---- following the chain --------------------------------------------------------------------
    async def _height(self, txid: str, cache: dict[str, int | None], missing: set[str]) -> int | None:
        if txid not in cache:
            try:
                status = await self._esplora.transaction_status(txid)
                cache[txid] = status.block_height if status.confirmed else None
            except TxNotFound:
                cache[txid] = None
                missing.add(txid)
        return cache[txid]

    async def _winner(self, versions: list[PayoutVersion]) -> tuple[Winner | None, set[str]]:
        """The version the chain confirmed (signed, not abandoned ones), and the txids it does not know."""
        cache: dict[str, int | None] = {}
        missing: set[str] = set()
        views = []
        for v in versions:
            if v.tx_hex is None or v.status == "abandoned":
                continue
            parent_height = await self._height(v.parent_txid, cache, missing)
            child = v.txid if v.kind == "cpfp" else None
            child_height = await self._height(v.txid, cache, missing) if child else None
            views.append(VersionView(v.version, v.parent_txid, parent_height, child, child_height))
        return winner(views), missing

    @activity.defn(name=t.FOLLOW_PAYOUT)
    async def follow(self, ref: t.PayoutRef) -> t.PayoutProgress:
        """The payout as the chain shows it (see :class:`contracts.payouts.PayoutProgress`);
        re-sends a current version the chain lost and finalizes a quorum that waited for the reserve."""
        async with self._sessions() as session:
            payout = await self._payout(session, ref.payout_id)
            versions = await pq.versions(session, payout.id)
        tip = await self._esplora.tip_height()
        if payout.status in ("abandoned", "confirmed"):
            return t.PayoutProgress(payout.status, payout.current_version, payout.status, payout.confirmed_version,
                                    payout.confirmations, payout.confirmed_height, tip, False, payout.txid)
        await self._finalize_waiting(ref.payout_id, versions)
        async with self._sessions() as session:
            payout = await self._payout(session, ref.payout_id)
            versions = await pq.versions(session, payout.id)
        won, missing = await self._winner(versions)
        current = next(v for v in versions if v.version == payout.current_version)
        pending = any(v.status == "awaiting_signature" and v.version > payout.current_version for v in versions)
        if won is not None:
            depth = won.depth(tip)
            if depth != payout.confirmations:
                async with transaction(self._sessions) as session:
                    row = await self._payout(session, ref.payout_id, for_update=True)
                    if row.status != "confirmed":
                        row.confirmations, row.updated_at = depth, utcnow()
            return t.PayoutProgress(payout.status, payout.current_version, current.status, won.version, depth,
                                    won.block_height, tip, False, won.txid)
        if current.status == "broadcast":
            await self._resend(versions, current, missing)
        after = self._settings.bitcoin.fee_bump_after_blocks
        due = after > 0 and not pending and current.status == "broadcast" and bump_due(
            broadcast_height=current.broadcast_height, tip_height=tip, after_blocks=after)
        return t.PayoutProgress(payout.status, payout.current_version, current.status, None, 0, None, tip, due,
                                payout.txid)

    async def _resend(self, versions: list[PayoutVersion], current: PayoutVersion, missing: set[str]) -> None:
        sends = []
        if current.kind == "cpfp":
            parent = next(v for v in versions if v.txid == current.parent_txid)
            if parent.txid in missing and parent.tx_hex:
                sends.append(parent.tx_hex)
        if current.txid in missing and current.tx_hex:
            sends.append(current.tx_hex)
        for raw in sends:
            try:
                await self._esplora.broadcast(raw)  # evicted or reorged out: the same bytes again
            except (TxRejected, ChainUnavailable) as exc:
                log.warning("re-broadcast of payout version %s failed: %s", current.txid, exc)

    async def _finalize_waiting(self, payout_id: str, versions: list[PayoutVersion]) -> None:
        """A version whose quorum signed while the fee reserve was short is finalized once it is funded."""
        waiting = [v for v in versions if v.status == "awaiting_signature" and v.tx_hex is None
                   and v.version > 0 and psbt_roles.finalize(v.psbt) is not None]
        for v in waiting:
            async with transaction(self._sessions) as session:
                payout = await self._payout(session, payout_id, for_update=True)
                version = await pq.version(session, payout.id, v.version, for_update=True)
                assert version is not None
                if version.status == "awaiting_signature":
                    await self._builder.try_finalize(session, payout, version, await pq.items_of(session, payout.id))

    # ---- bumping and settling -------------------------------------------------------------------
    @activity.defn(name=t.BUMP_PAYOUT)
    async def bump(self, inp: t.BumpInput) -> t.BumpResult:
        """Make the next version of a stuck payout (idempotent on ``from_version``)."""
        async with transaction(self._sessions) as session:
            payout = await self._payout(session, inp.payout_id, for_update=True)
            versions = await pq.versions(session, payout.id, for_update=True)
            later = [v for v in versions if v.version > inp.from_version and v.status != "abandoned"]
            if later:
                v = later[0]
                return t.BumpResult(v.version, v.status, v.kind, v.fee_rate_sat_vb, v.extra_fee_sats)
            if payout.status != "broadcast" or payout.current_version != inp.from_version:
                return t.BumpResult(None, reason=f"the payout is {payout.status}")
            won, _ = await self._winner(versions)
            if won is not None:
                return t.BumpResult(None, reason="a version confirmed")
            try:
                v = await self._bumps.bump(session, payout, inp.request)
            except BumpRefused as exc:
                log.warning("bump of payout %s refused: %s", inp.payout_id, exc)
                return t.BumpResult(None, reason=exc.code)
            actor = inp.request.operator_id if inp.request else None
            from db.audit import record_audit

            record_audit(session, action="payout.bump_requested" if actor else "payout.bump_due", resource_type="payout",
                         resource_id=payout.id, actor_id=uuid.UUID(actor) if actor else None,
                         new_values={"version": v.version, "kind": v.kind, "fee_rate_sat_vb": v.fee_rate_sat_vb,
                                     "extra_fee_sats": v.extra_fee_sats, "status": v.status,
                                     "reason": inp.request.reason if inp.request else "not confirmed in time"})
            return t.BumpResult(v.version, v.status, v.kind, v.fee_rate_sat_vb, v.extra_fee_sats)

    @activity.defn(name=t.SETTLE_PAYOUT)
    async def settle(self, inp: t.SettleInput) -> None:
        """The version ``winner`` is deep enough: settle the payout (idempotent)."""
        async with transaction(self._sessions) as session:
            payout = await self._payout(session, inp.payout_id, for_update=True)
            await self._books.settle(session, payout, winner=inp.winner, block_height=inp.block_height,
                                     confirmations=inp.confirmations)
