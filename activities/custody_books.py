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
import uuid
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


class WriteOffNotCoverable(Exception):
    """An operator's cover of a write-off was refused; ``code`` is stable for tooling."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


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
            RowView(UtxoState(row.state), credited, row.reorg_held, row.change_of is not None,
                    row.seen_at_height if row.state in (UtxoState.SEEN, UtxoState.VANISHED) or row.reorg_held else None,
                    attributable=row.operation_id is not None),
            view, tip_height=tip_height, reorg_window_blocks=self.reorg_window,
        )
        if move == Move.VANISH and row.operation_id and await ledger.open_pending(
            session, operation_id=row.operation_id, code=TransferCode.DEPOSIT_CREDIT
        ):
            return Move.NOTHING  # its mint is in progress: the credit holds it if it lands (:meth:`credit`)
        await self._apply(session, row, move, holds, tip_height=tip_height, block_height=block_height,
                          block_hash=block_hash)
        return move

    async def _apply(self, session, row: CustodyUtxo, move: Move, holds, *, tip_height: int,
                     block_height: int | None, block_hash: str | None) -> None:
        now = utcnow()
        on_block = block_height is not None
        if move in (Move.CONFIRM, Move.RETURN, Move.RELEASE):
            if move == Move.RETURN:
                await self._return(session, row)
            if move == Move.RELEASE:
                taken = await self._held_sats(session, row)
                await self.post(session, e.reorg_returned(row.operation_id, row.outpoint, holds, amount_sats=taken,
                                                          epoch=row.epoch))
                row.reorg_held = False
                await self._operation_after_reorg(session, row, held=False)
            if on_block:
                if row.state != UtxoState.RESERVED:
                    row.state = UtxoState.CONFIRMED
                row.block_height, row.block_hash, row.seen_at_height = block_height, block_hash, None
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
        elif move == Move.DROP:
            row.state, row.block_height, row.block_hash = UtxoState.VANISHED, None, None
            row.seen_at_height = row.seen_at_height or tip_height
            raise_alert("custody_output_left_the_chain", "opening custody left the chain; nobody's credit to hold",
                        outpoint=row.outpoint, sats=row.value_sats)
        elif move == Move.HOLD:
            await self.hold(session, row, tip_height=tip_height)
        elif move == Move.WRITE_OFF:
            taken = await self._held_sats(session, row)
            await self.post(session, e.reorg_write_off(row.operation_id, row.outpoint, amount_sats=taken,
                                                       epoch=row.epoch))
            row.state, row.held_in, row.reorg_held = UtxoState.VANISHED, e.SUSPENSE_BTC, False
            await self._operation_written_off(session, row)
        if move != Move.NOTHING:
            row.updated_at = now
        row.verified_at = now

    async def hold(self, session: AsyncSession, row: CustodyUtxo, *, tip_height: int) -> int:
        """A credited deposit's output is off the chain: hold its credit at once. Withdrawals of
        the user that have not started burning give their holds up first (their burn then
        refuses: the tokens are not backed); what was withdrawn already cannot be held, and that
        part stays an unexplained shortfall for reconciliation. Returns the units held."""
        op = await operations.get_by_id(session, operation_id=row.operation_id, for_update=True)
        assert op is not None
        key = e.user_istsi(op.user_id)
        available = max((await ledger.account(session, key)).credit_available, 0)
        if available < row.value_sats:
            voids = await void_unburned_withdrawal_holds(session, key, row.value_sats - available,
                                                         reason=f"reorg:{row.outpoint}")
            await self.post(session, voids)
            available += sum(t.amount for t in voids)
        held = min(row.value_sats, available)
        row.epoch += 1
        await self.post(session, e.reorg_hold(op.id, op.user_id, row.outpoint, held_units=held, epoch=row.epoch))
        row.reorg_held = True
        if row.state == UtxoState.CONFIRMED:
            row.state = UtxoState.SEEN
        if row.state != UtxoState.RESERVED:
            row.block_height, row.block_hash = None, None
        row.seen_at_height = tip_height
        await self._operation_after_reorg(session, row, held=True, held_units=held)
        if held < row.value_sats:
            raise_alert("reorged_credit_already_spent", "a reorged deposit's credit was partly withdrawn already: "
                        "the rest is a shortfall", outpoint=row.outpoint, held_units=held, amount_sats=row.value_sats)
        if row.state == UtxoState.RESERVED:
            raise_alert("payout_input_left_the_chain", "a payout's input left the chain with its deposit",
                        outpoint=row.outpoint, payout_id=str(row.reserved_by))
        return held

    async def _held_sats(self, session: AsyncSession, row: CustodyUtxo) -> int:
        """What the current hold of ``row`` took out of custody (its ``reorg-vanished`` transfer)."""
        found = await ledger.get_transfer(session, f"reorg-vanished:{row.outpoint}#{row.epoch}")
        return found.transfer.amount if found else 0

    async def _return(self, session: AsyncSession, row: CustodyUtxo) -> None:
        claim = await self._claim_of(session, row)
        owner = (await custody.watched(session, [row.address]))[row.address]
        # A written-off credit's BTC that comes back is the operators' to assign: the tokens of
        # its first mint may still be out there.
        written_off = row.held_in == e.SUSPENSE_BTC
        row.held_in = e.UNATTRIBUTED if written_off else receipt_account(
            branch=owner.branch, owner_user_id=str(owner.user_id) if owner.user_id else None,
            claiming_operation_id=str(claim.id) if claim else None)
        await self.post(session, e.receipt(row.outpoint, row.value_sats, row.held_in,
                                           operation_id=claim.id if claim else None, epoch=row.epoch))

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

    async def cover_write_off(self, session: AsyncSession, *, operation_id: uuid.UUID, covering_outpoint: str,
                              actor: str, reason: str) -> int:
        """An operator covers the reorg write-off of deposit ``operation_id`` with the confirmed,
        unattributed custody output ``covering_outpoint`` (:func:`domain.entries.write_off_covered`):
        the output backs the restored credits from now on, the deposit is completed again.
        Returns the satoshis written off. Idempotent for the same output.

        Raises:
            WriteOffNotCoverable: no write-off to cover, or the output is not a confirmed
                unattributed receipt worth at least the loss.
        """
        op = await operations.get_by_id(session, operation_id=operation_id, for_update=True)
        if op is None:
            raise WriteOffNotCoverable("operation_missing", f"no operation {operation_id}")
        done = await ledger.get_transfer(session, f"write-off-covered:{op.id}")
        if done is not None:
            row = await custody.get(session, covering_outpoint)
            if row is not None and row.held_in == e.BACKING and row.operation_id == op.id:
                return 0  # covered before with this output
            raise WriteOffNotCoverable("already_covered", "this write-off is covered already")
        write_offs = [s.transfer for s in await ledger.transfers_of_operation(session, op.id)
                      if s.transfer.code == TransferCode.REORG_WRITE_OFF]
        if not write_offs:
            raise WriteOffNotCoverable("nothing_written_off", f"operation {op.id} has no reorg write-off")
        lost = sum(t.amount for t in write_offs)
        # each write-off's id is reorg-write-off:<outpoint>#<epoch>; its holds reorg-hold:<outpoint>#<epoch>…
        prefixes = tuple("reorg-hold:" + t.id.removeprefix("reorg-write-off:") for t in write_offs)
        holds = [t for t in await ledger.open_pending(session, operation_id=op.id, code=TransferCode.REORG_HOLD)
                 if t.id.startswith(prefixes)]
        row = await custody.get(session, covering_outpoint, for_update=True)
        if row is None or row.state != UtxoState.CONFIRMED or row.held_in != e.UNATTRIBUTED or row.reorg_held:
            raise WriteOffNotCoverable("not_an_unattributed_receipt",
                                       f"{covering_outpoint} is not a confirmed unattributed custody output")
        if row.value_sats < lost:
            raise WriteOffNotCoverable("too_small", f"{covering_outpoint} holds {row.value_sats} sats; "
                                       f"the write-off lost {lost}")
        await self.post(session, e.write_off_covered(op.id, row.outpoint, row.value_sats, holds))
        row.held_in, row.operation_id, row.updated_at = e.BACKING, op.id, utcnow()
        before = operations.snapshot(op)
        op.stage, op.error, op.updated_at = OperationStage.COMPLETED.value, None, utcnow()
        record_audit(session, action="deposit.write_off_covered", resource_type="operation", resource_id=op.id,
                     old_values=before, new_values={**operations.snapshot(op), "covering_outpoint": row.outpoint,
                                                    "covering_sats": row.value_sats, "lost_sats": lost,
                                                    "reason": reason, "operator": actor})
        return lost

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
                if row.state in (UtxoState.SEEN, UtxoState.VANISHED):  # it left its block during the mint
                    await self.hold(session, row, tip_height=row.seen_at_height or 0)

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


#: Stages of a withdrawal whose hold may still be voided (its burn has not been attempted).
BEFORE_BURN = (OperationStage.RECEIVED, OperationStage.KYC_CHECK, OperationStage.RESERVING,
               OperationStage.AWAITING_APPROVAL, OperationStage.NEEDS_ATTENTION)


async def void_unburned_withdrawal_holds(session: AsyncSession, account_key: str, needed: int, *,
                                         reason: str) -> list:
    """The transfers that void withdrawal holds on ``account_key`` (newest first) until at least
    ``needed`` units are free, taking only withdrawals that have not started burning; each one is
    marked ``hold_lost`` (its burn step refuses with ``insufficient_balance``, under the same
    operation lock). Post the returned transfers in the caller's chain."""
    voids = []
    for hold in reversed(await ledger.open_pending(session, debit_account=account_key,
                                                   code=TransferCode.WITHDRAWAL_HOLD)):
        if needed <= 0:
            break
        op = await operations.get_by_id(session, operation_id=uuid.UUID(hold.operation_id or ""), for_update=True)
        if op is None or op.stage not in BEFORE_BURN:
            continue
        voids.append(e.resolve(hold, post=False))
        op.meta = {**(op.meta or {}), "reserved": False, "hold_lost": reason}
        needed -= hold.amount
        log.warning("withdrawal %s gives up its hold (%s)", op.id, reason)
    return voids
