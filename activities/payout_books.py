"""Keeping a payout, the books and the custody UTXO set in step: one place where a signed
version, a settlement or an abandoned version becomes ledger transfers, UTXO rows and audit rows.

Every method runs in the caller's transaction (it takes the session, the payout row locked), so
the stored transaction, its transfers, the set and the audit rows commit together.

* **Version 0 signed**: its change enters the set (``seen``, ``change_version`` 0) and each
  withdrawal posts its own pending payout (recipient + its fee share, ``domain.entries``).
* **Version k signed** (a bump): the fee it adds is pending against the fee reserve; the change
  of the version it replaces becomes ``superseded`` (an RBF) or ``reserved`` by the child (a
  CPFP), and its own change enters as ``seen``. So the set counts exactly one version's change,
  the one the books' pending transfers describe.
* **Settled** (the version that confirmed is deep enough): the inputs it spent are ``spent``,
  inputs only other versions spent are free again, its change is ``confirmed`` and every other
  version's change ``superseded``; the extra fees of versions 1..winner are posted, those of
  later versions voided. The books then follow whichever version confirmed.
* **Abandoned** before it reached the chain: its reservations are released, its bookings undone
  (voided), and for version 0 its withdrawals go back to the queue.
"""

from __future__ import annotations

import logging
import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from activities.alerts import raise_alert
from chains.bitcoin.wallet import CHANGE_BRANCH, CustodyWallet
from config.settings import Settings
from db import ledger
from db.audit import record_audit
from db.models import Operation, Payout, PayoutItem, PayoutVersion
from db.models.base import utcnow
from db.queries import custody, operations
from db.queries import payouts as pq
from domain import entries as e
from domain.utxo_set import UtxoState

log = logging.getLogger(__name__)


def _audit_payout(session: AsyncSession, payout: Payout, action: str, extra: dict) -> None:
    record_audit(session, action=action, resource_type="payout", resource_id=payout.id,
                 new_values={"status": payout.status, "current_version": payout.current_version,
                             "txid": payout.txid, **extra})


class PayoutBooks:
    """The bookkeeping rules of payouts over one configuration."""

    def __init__(self, settings: Settings, wallet: CustodyWallet | None = None) -> None:
        self.settings = settings
        self.wallet = wallet
        self.token = settings.soroban.contracts.istsi_token

    async def _post(self, session: AsyncSession, transfers: list) -> None:
        await ledger.post(session, transfers, token_address=self.token)

    # ---- signed ---------------------------------------------------------------------------------
    async def _add_change(self, session: AsyncSession, payout: Payout, version: PayoutVersion) -> None:
        if version.change_vout is None or not version.change_sats:
            return
        assert self.wallet is not None, "booking a signed version needs the custody wallet"
        change = self.wallet.derive(CHANGE_BRANCH, version.change_index)
        await custody.watch_address(session, address=change.address, branch=CHANGE_BRANCH,
                                    derivation_index=version.change_index)
        await custody.insert_new(session, {
            "outpoint": f"{version.txid}:{version.change_vout}", "txid": version.txid, "vout": version.change_vout,
            "value_sats": version.change_sats, "address": change.address, "state": UtxoState.SEEN.value,
            "change_of": payout.id, "change_version": version.version,
        })

    async def book_signed(self, session: AsyncSession, payout: Payout, version: PayoutVersion,
                          items: list[PayoutItem]) -> None:
        """``version`` is fully signed (its ``tx_hex`` stored): book it (module docstring).

        Raises:
            LedgerError ``exceeds_credits``: a bump the fee reserve cannot pay (nothing applied
            when the caller rolls back).
        """
        now = utcnow()
        if version.version == 0:
            payout.txid = version.parent_txid
            await self._add_change(session, payout, version)
            for item in items:
                op = await operations.get_by_id(session, operation_id=item.operation_id, for_update=True)
                assert op is not None and item.recipient_sats is not None and item.fee_share_sats is not None
                await self._post(session, e.payout_signed(op.id, recipient_sats=item.recipient_sats,
                                                          fee_sats=item.fee_share_sats))
                self._show_on_operation(session, op, payout, item, "withdrawal.payout_signed", len(items))
            payout.status = "signed"
        else:
            await self._post(session, e.payout_fee_bump(payout.id, version.version,
                                                         extra_fee_sats=version.extra_fee_sats))
            previous = await pq.version(session, payout.id, payout.current_version, for_update=True)
            assert previous is not None
            for row in await custody.change_of(session, payout.id):
                if row.change_version != previous.version or row.state not in (UtxoState.SEEN, UtxoState.CONFIRMED):
                    continue
                if version.kind == "cpfp" and row.txid == version.parent_txid:
                    row.state, row.reserved_by, row.reserved_version = UtxoState.RESERVED, payout.id, version.version
                else:
                    row.state = UtxoState.SUPERSEDED
                row.updated_at = now
            await self._add_change(session, payout, version)
            previous.status, previous.updated_at = "replaced", now
            payout.current_version, payout.txid = version.version, version.parent_txid
            _audit_payout(session, payout, "payout.bumped", {
                "version": version.version, "kind": version.kind, "bump_txid": version.txid,
                "fee_rate_sat_vb": version.fee_rate_sat_vb, "extra_fee_sats": version.extra_fee_sats})
        version.status, version.updated_at, payout.updated_at = "signed", now, now
        await custody.sync_payout_signed(session, payout.id)

    def _show_on_operation(self, session: AsyncSession, op: Operation, payout: Payout, item: PayoutItem,
                           action: str, batch_outputs: int) -> None:
        """The withdrawal's share of its payout, on the operation (shown by the API) and audited."""
        before = operations.snapshot(op)
        op.meta = {**(op.meta or {}), "vout": item.vout, "payout": {
            "payout_id": str(payout.id), "fee_share_sats": item.fee_share_sats, "recipient_sats": item.recipient_sats,
            "fee_rate_sat_vb": payout.fee_rate_sat_vb, "batch_outputs": batch_outputs,
            "txid": payout.txid}}
        op.updated_at = utcnow()
        record_audit(session, action=action, resource_type="operation", resource_id=op.id, old_values=before,
                     new_values={**operations.snapshot(op), "amount": op.amount, "payout_id": str(payout.id),
                                 "fee_share_sats": item.fee_share_sats, "recipient_sats": item.recipient_sats})

    # ---- settled --------------------------------------------------------------------------------
    async def settle(self, session: AsyncSession, payout: Payout, *, winner: int, block_height: int,
                     confirmations: int) -> bool:
        """Version ``winner`` confirmed at ``block_height`` and is deep enough: follow it
        (module docstring). Idempotent; True when it settled now."""
        if payout.status == "confirmed":
            return False
        versions = {v.version: v for v in await pq.versions(session, payout.id, for_update=True)}
        won = versions[winner]
        parent = next(v for v in versions.values() if v.txid == won.parent_txid)
        spent = {i["outpoint"]: parent.txid for i in parent.inputs}
        if won.kind == "cpfp":
            spent.update({i["outpoint"]: won.txid for i in won.inputs})
        final_change = f"{won.txid}:{won.change_vout}" if won.change_vout is not None else None
        now = utcnow()
        for row in await custody.reserved_by(session, payout.id):
            if row.outpoint in spent:
                if row.state != UtxoState.SPENT:
                    row.state, row.spent_txid, row.spent_height = UtxoState.SPENT, spent[row.outpoint], block_height
            elif row.state == UtxoState.RESERVED and row.change_of == payout.id:
                row.state, row.reserved_by, row.reserved_version = UtxoState.SUPERSEDED, None, None
            elif row.state == UtxoState.RESERVED:
                row.state, row.reserved_by, row.reserved_version = UtxoState.CONFIRMED, None, None
            row.updated_at = now
        for row in await custody.change_of(session, payout.id):
            if row.outpoint == final_change:
                if row.state in (UtxoState.SEEN, UtxoState.SUPERSEDED, UtxoState.VANISHED):
                    row.state, row.block_height, row.seen_at_height = UtxoState.CONFIRMED, block_height, None
            elif row.state in (UtxoState.SEEN, UtxoState.CONFIRMED) and row.outpoint not in spent:
                row.state = UtxoState.SUPERSEDED
            row.updated_at = now
        for v in versions.values():
            if v.version == 0 or v.tx_hex is None or v.status == "abandoned":
                continue
            await self._post(session, e.payout_fee_bump_resolved(payout.id, v.version, extra_fee_sats=v.extra_fee_sats,
                                                                 confirmed=v.version <= winner))
        for v in versions.values():
            if v.status != "abandoned":
                v.status = "confirmed" if v.version == winner else ("replaced" if v.tx_hex else "abandoned")
                v.updated_at = now
        payout.status, payout.confirmed_version, payout.txid = "confirmed", winner, won.parent_txid
        payout.confirmed_height, payout.confirmations, payout.updated_at = block_height, confirmations, now
        await custody.sync_payout_signed(session, payout.id)
        extra = sum(v.extra_fee_sats for v in versions.values() if 0 < v.version <= winner and v.tx_hex)
        _audit_payout(session, payout, "payout.confirmed", {
            "confirmed_version": winner, "block_height": block_height, "fee_sats": payout.fee_sats + extra,
            "extra_fee_sats": extra})
        return True

    async def settle_item(self, session: AsyncSession, payout: Payout, item: PayoutItem) -> None:
        """One withdrawal of a settled payout: its pending transfers are posted (idempotent)."""
        if item.status == "paid":
            return
        assert item.recipient_sats is not None and item.fee_share_sats is not None
        await self._post(session, e.payout_confirmed(item.operation_id, recipient_sats=item.recipient_sats,
                                                     fee_sats=item.fee_share_sats))
        item.status, item.updated_at = "paid", utcnow()

    # ---- abandoned ------------------------------------------------------------------------------
    async def abandon_version(self, session: AsyncSession, payout: Payout, version: PayoutVersion, *,
                              reason: str) -> None:
        """A version that never reached the chain is given up: its reservations are released; a
        signed bump's bookings are undone and the version it replaced is current again; version
        0's withdrawals go back to the queue (except those the caller removed)."""
        now = utcnow()
        for row in await custody.reserved_by(session, payout.id):
            if row.reserved_version != version.version or row.state != UtxoState.RESERVED:
                continue
            if row.change_of == payout.id:  # a parent's change a child was to spend: counted again
                row.state, row.reserved_by, row.reserved_version = UtxoState.SEEN, None, None
            else:
                row.state, row.reserved_by, row.reserved_version = UtxoState.CONFIRMED, None, None
            row.updated_at = now
        if version.version > 0 and version.status in ("signed", "broadcast"):
            await self._post(session, e.payout_fee_bump_resolved(payout.id, version.version,
                                                                 extra_fee_sats=version.extra_fee_sats, confirmed=False))
            previous = await pq.version(session, payout.id, version.version - 1, for_update=True)
            assert previous is not None
            for row in await custody.change_of(session, payout.id):
                if row.change_version == version.version:
                    row.state = UtxoState.SUPERSEDED
                elif row.change_version == previous.version and row.state == UtxoState.SUPERSEDED:
                    row.state = UtxoState.SEEN
                row.updated_at = now
            previous.status, previous.updated_at = "broadcast", now
            payout.current_version, payout.txid = previous.version, previous.parent_txid
        version.status, version.updated_at = "abandoned", now
        if version.version == 0:
            payout.status = "abandoned"
            for item in await pq.items_of(session, payout.id, for_update=True):
                if item.status == "batched":
                    item.status, item.payout_id, item.fee_share_sats, item.recipient_sats, item.vout = (
                        "queued", None, None, None, None)
                    item.updated_at = now
        payout.updated_at = now
        await custody.sync_payout_signed(session, payout.id)
        _audit_payout(session, payout, "payout.version_abandoned", {"version": version.version, "reason": reason})
        if version.tx_hex is not None:
            raise_alert("payout_version_refused", "a signed payout version was refused by the node and given up",
                        payout_id=str(payout.id), version=version.version, txid=version.txid, reason=reason)


async def payout_of_item(session: AsyncSession, item: PayoutItem, *, for_update: bool = False) -> Payout | None:
    if item.payout_id is None:
        return None
    return await pq.get(session, item.payout_id, for_update=for_update)


def operation_uuid(value: str) -> uuid.UUID:
    return uuid.UUID(value)
