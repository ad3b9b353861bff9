"""Keeping the custody UTXO set and the books in step: one place where a chain sighting, a claim
or a change of an output's fate becomes ledger transfers, projection updates and audit rows.

Used by the block scanner, the deposit workflow's activities, the payout activities and the
event monitor; every method runs in the caller's transaction (it takes the session), so the row
change, its transfers, the operation projection and the audit row commit together. The rules
come from :mod:`domain.utxo_set` (where a receipt is booked, what a reorg means) and
:mod:`domain.entries` (the transfers of each step).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from activities.alerts import raise_alert
from config.settings import Settings
from db import ledger
from db.audit import record_audit
from db.models import CustodyUtxo, Operation
from db.models.base import utcnow
from db.queries import custody, operations
from domain import entries as e
from domain.chart import TransferCode
from domain.operations import OperationStage, OperationStatus, OperationType
from domain.utxo_set import ChainView, Move, RowView, UtxoState, decide, receipt_account

log = logging.getLogger(__name__)

REORGED_AFTER_MINT = "reorged_after_mint"
REORG_WRITTEN_OFF = "reorg_written_off"


@dataclass(frozen=True)
class Sighting:
    """A custody output as the chain shows it now (``block_height`` None: in the mempool)."""

    outpoint: str
    value_sats: int
    address: str
    block_height: int | None
    block_hash: str | None


class CustodyBooks:
    """The bookkeeping rules over one configuration (token address, reorg window)."""

    def __init__(self, settings: Settings) -> None:
        self.token = settings.soroban.contracts.istsi_token
        self.reorg_window = settings.deposits.reorg_window_blocks

    async def post(self, session: AsyncSession, transfers: list) -> None:
        await ledger.post(session, transfers, token_address=self.token)

    # ---- sightings ----------------------------------------------------------------------------
    async def sight(self, session: AsyncSession, s: Sighting, *, tip_height: int) -> CustodyUtxo | None:
        """Record what the chain shows of a custody output (idempotent).

        A new output is inserted and its receipt booked (claimed by a deposit → in flight; a
        user's deposit address → their pending receipts; otherwise unattributed). A known one
        follows the chain (:meth:`follow`). Returns None when ``s.address`` is not watched.
        """
        owner = (await custody.watched(session, [s.address])).get(s.address)
        if owner is None:
            return None
        claim = await operations.get_by_outpoint(session, outpoint=s.outpoint)
        claim_id = claim.id if claim is not None and claim.operation_type == OperationType.DEPOSIT.value else None
        into = receipt_account(branch=owner.branch, owner_user_id=str(owner.user_id) if owner.user_id else None,
                               claiming_operation_id=str(claim_id) if claim_id else None)
        confirmed = s.block_height is not None
        txid, vout = s.outpoint.rsplit(":", 1)
        inserted = await custody.insert_new(session, {
            "outpoint": s.outpoint, "txid": txid, "vout": int(vout), "value_sats": s.value_sats, "address": s.address,
            "state": UtxoState.CONFIRMED.value if confirmed else UtxoState.SEEN.value, "block_height": s.block_height,
            "block_hash": s.block_hash, "held_in": into, "operation_id": claim_id,
            "seen_at_height": None if confirmed else tip_height,
        })
        row = await custody.get(session, s.outpoint, for_update=True)
        assert row is not None
        if not inserted:  # known (or a concurrent sighting inserted it first): follow the chain
            view = ChainView.CONFIRMED if confirmed else ChainView.MEMPOOL
            await self.follow(session, row, view, tip_height=tip_height, block_height=s.block_height,
                              block_hash=s.block_hash)
            return row
        await self.post(session, e.receipt(s.outpoint, s.value_sats, into, operation_id=claim_id))
        if into == e.UNATTRIBUTED:
            raise_alert("unattributed_receipt", "BTC paid to a custody address no user owns",
                        outpoint=s.outpoint, sats=s.value_sats, address=s.address)
        return row

    async def follow(
        self, session: AsyncSession, row: CustodyUtxo, view: ChainView, *, tip_height: int,
        block_height: int | None = None, block_hash: str | None = None,
    ) -> Move:
        """Apply what the chain says about a known row (``row`` must be locked by the caller)."""
        holds = await self._open_holds(session, row)
        credited = row.held_in == e.BACKING
        move = decide(
            RowView(UtxoState(row.state), credited, bool(holds), row.change_of is not None,
                    row.seen_at_height if row.state in (UtxoState.SEEN, UtxoState.VANISHED) else None),
            view, tip_height=tip_height, reorg_window_blocks=self.reorg_window,
        )
        if move == Move.VANISH and row.operation_id and await ledger.open_pending(
            session, operation_id=row.operation_id, code=TransferCode.DEPOSIT_CREDIT
        ):
            return Move.NOTHING  # its mint is in progress: decide once the credit is posted or voided
        if move == Move.NOTHING and view == ChainView.CONFIRMED and block_height is not None \
                and row.state in (UtxoState.CONFIRMED, UtxoState.RESERVED):
            # e.g. a payout's input whose block was replaced by another holding it too
            row.block_height, row.block_hash = block_height, block_hash
        await self._apply(session, row, move, holds, tip_height=tip_height, block_height=block_height,
                          block_hash=block_hash)
        return move

    async def _apply(self, session, row: CustodyUtxo, move: Move, holds, *, tip_height: int,
                     block_height: int | None, block_hash: str | None) -> None:
        now = utcnow()
        if move in (Move.CONFIRM, Move.RETURN, Move.RELEASE):
            if move == Move.RETURN:
                claim = await self._claim_of(session, row)
                owner = (await custody.watched(session, [row.address]))[row.address]
                # A written-off credit's BTC that comes back is the operators' to assign: the
                # tokens of its first mint may still be out there.
                written_off = row.held_in == e.SUSPENSE_BTC
                row.held_in = e.UNATTRIBUTED if written_off else receipt_account(
                    branch=owner.branch, owner_user_id=str(owner.user_id) if owner.user_id else None,
                    claiming_operation_id=str(claim.id) if claim else None)
                await self.post(session, e.receipt(row.outpoint, row.value_sats, row.held_in,
                                                   operation_id=claim.id if claim else None, epoch=row.epoch))
            if move == Move.RELEASE:
                await self.post(session, e.reorg_returned(row.operation_id, row.outpoint, holds,
                                                          amount_sats=row.value_sats, epoch=row.epoch))
                await self._operation_after_reorg(session, row, held=False)
            if block_height is not None:
                row.state, row.block_height, row.block_hash = UtxoState.CONFIRMED, block_height, block_hash
                row.seen_at_height = None
            elif move == Move.RETURN:
                row.state, row.seen_at_height = UtxoState.SEEN, tip_height
        elif move == Move.UNCONFIRM:
            row.state, row.block_height, row.block_hash = UtxoState.SEEN, None, None
            row.seen_at_height = row.seen_at_height or tip_height
        elif move == Move.VANISH:
            row.epoch += 1
            await self.post(session, e.receipt_vanished(row.outpoint, row.value_sats, row.held_in or e.UNATTRIBUTED,
                                                        epoch=row.epoch, operation_id=row.operation_id))
            row.state, row.block_height, row.block_hash = UtxoState.VANISHED, None, None
            row.seen_at_height = row.seen_at_height or tip_height
        elif move == Move.HOLD:
            row.epoch += 1
            op = await operations.get_by_id(session, operation_id=row.operation_id, for_update=True)
            assert op is not None
            user_account = await ledger.account(session, e.user_istsi(op.user_id))
            held = min(row.value_sats, max(user_account.credit_available, 0))
            await self.post(session, e.reorg_hold(op.id, op.user_id, row.outpoint, held_units=held,
                                                  amount_sats=row.value_sats, epoch=row.epoch))
            row.state, row.block_height, row.block_hash = UtxoState.SEEN, None, None
            row.seen_at_height = tip_height
            await self._operation_after_reorg(session, row, held=True, held_units=held)
            if held < row.value_sats:
                raise_alert("reorged_credit_already_spent", "a reorged deposit's credit was partly withdrawn already",
                            outpoint=row.outpoint, held_units=held, amount_sats=row.value_sats)
        elif move == Move.WRITE_OFF:
            await self.post(session, e.reorg_write_off(row.operation_id, row.outpoint, holds,
                                                       amount_sats=row.value_sats, epoch=row.epoch))
            row.state, row.held_in = UtxoState.VANISHED, e.SUSPENSE_BTC
            await self._operation_written_off(session, row)
        if move != Move.NOTHING:
            row.updated_at = now
        row.verified_at = now

    async def _open_holds(self, session: AsyncSession, row: CustodyUtxo):
        if row.operation_id is None or row.held_in != e.BACKING:
            return []
        found = await ledger.open_pending(session, operation_id=row.operation_id, code=TransferCode.REORG_HOLD)
        prefix = f"reorg-hold:{row.outpoint}#"
        return [t for t in found if t.id.startswith(prefix)]

    async def _claim_of(self, session: AsyncSession, row: CustodyUtxo) -> Operation | None:
        if row.operation_id is None:
            return None
        op = await operations.get_by_id(session, operation_id=row.operation_id)
        if op is None or OperationStatus(op.status).is_final:
            row.operation_id = None
            return None
        return op

    async def _operation_after_reorg(self, session, row: CustodyUtxo, *, held: bool, held_units: int = 0) -> None:
        op = await operations.get_by_id(session, operation_id=row.operation_id, for_update=True)
        if op is None:
            return
        before = operations.snapshot(op)
        if held:
            op.stage, op.error = OperationStage.REORG_HOLD.value, REORGED_AFTER_MINT
            op.meta = {**(op.meta or {}), "reorg_hold": {"outpoint": row.outpoint, "held_units": held_units}}
            log.error("ALERT: minted deposit %s left the chain; its credit is held", row.outpoint)
        else:
            if await ledger.open_pending(session, operation_id=op.id, code=TransferCode.REORG_HOLD):
                return
            op.stage, op.error = OperationStage.COMPLETED.value, None
            op.meta = {k: v for k, v in (op.meta or {}).items() if k != "reorg_hold"}
        op.updated_at = utcnow()
        record_audit(session, action="deposit.reorg_held" if held else "deposit.reorg_released",
                     resource_type="operation", resource_id=op.id, old_values=before,
                     new_values={**operations.snapshot(op), "outpoint": row.outpoint, "held_units": held_units})

    async def _operation_written_off(self, session, row: CustodyUtxo) -> None:
        op = await operations.get_by_id(session, operation_id=row.operation_id, for_update=True)
        if op is None:
            return
        before = operations.snapshot(op)
        op.stage, op.error, op.updated_at = OperationStage.NEEDS_ATTENTION.value, REORG_WRITTEN_OFF, utcnow()
        record_audit(session, action="deposit.reorg_written_off", resource_type="operation", resource_id=op.id,
                     old_values=before, new_values={**operations.snapshot(op), "outpoint": row.outpoint})
        raise_alert("reorged_deposit_written_off", "a credited deposit never came back; its credit is in suspense",
                    outpoint=row.outpoint, operation_id=str(op.id), sats=row.value_sats)

    # ---- deposits ------------------------------------------------------------------------------
    async def claim(self, session: AsyncSession, op: Operation, rows: list[CustodyUtxo]) -> None:
        """Make ``rows`` (locked) the deposit ``op``'s: receipts booked elsewhere move to in flight."""
        for row in rows:
            if row.operation_id == op.id and row.held_in in (e.IN_FLIGHT, e.BACKING):
                continue
            if row.state not in (UtxoState.SEEN, UtxoState.CONFIRMED):
                continue
            if row.held_in not in (None, e.IN_FLIGHT):
                await self.post(session, e.deposit_claim(op.id, row.outpoint, row.value_sats, row.held_in))
            row.held_in, row.operation_id, row.updated_at = e.IN_FLIGHT, op.id, utcnow()

    async def credit(self, session: AsyncSession, op: Operation) -> None:
        """The mint happened: post the deposit's credit (with its pending, in case the guard's
        transaction predates the books) and mark its outputs as backing iSTSi."""
        amount = op.amount or 0
        await self.post(session, [*e.deposit_credit_pending(op.id, op.user_id, amount),
                                  *e.deposit_credit_posted(op.id, op.user_id, amount)])
        for row in await custody.of_operation(session, op.id, for_update=True):
            if row.held_in == e.IN_FLIGHT:
                row.held_in, row.updated_at = e.BACKING, utcnow()

    async def unwind(self, session: AsyncSession, op: Operation) -> int:
        """A deposit ended without a mint: void a pending credit, and give the BTC still in
        custody back to the user's pending receipts. Returns the satoshis released."""
        if await ledger.open_pending(session, operation_id=op.id, code=TransferCode.DEPOSIT_CREDIT):
            await self.post(session, e.deposit_credit_voided(op.id, op.user_id, op.amount or 0))
        rows = [r for r in await custody.of_operation(session, op.id, for_update=True) if r.held_in == e.IN_FLIGHT]
        released = sum(r.value_sats for r in rows if r.state in (UtxoState.SEEN, UtxoState.CONFIRMED))
        if released:
            await self.post(session, e.deposit_release(op.id, op.user_id, released))
        for r in rows:  # a vanished one was reversed already; if it returns it books to the user's receipts
            r.held_in, r.operation_id, r.updated_at = e.pending_receipts(op.user_id), None, utcnow()
        return released


