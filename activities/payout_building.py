"""Building, signing and storing payout versions (BIP 174 creator, updater, signer, combiner and
finalizer roles over embit; the custody UTXO set in Postgres stays the source of truth).

* :meth:`PayoutBuilder.cut` turns queued withdrawals into one payout: coins chosen from the set
  under row locks (and checked on the chain), outputs and fee shares from
  :func:`domain.payout_batches.plan_batch`, the PSBT built, the hot signer's signature added, the
  transaction finalized when the quorum is met, and the payout, its version 0, its items, the
  reservations and (once signed) its bookings stored in the caller's transaction: before
  anything is broadcast.
* :meth:`PayoutBuilder.accept` takes an external signer's contribution (checked by
  ``psbt_roles.contribution``), records who made it and finalizes once the quorum is met.
* :meth:`PayoutBuilder.try_finalize` stores the transaction and books it, only when every input
  has its threshold of signatures (a bump also needs the fee reserve to cover it).

Errors: ``domain.payout_batches`` and ``chains.bitcoin.errors``; activities translate them.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from activities.alerts import raise_alert
from activities.custody_books import CustodyBooks
from activities.payout_books import PayoutBooks
from chains.bitcoin import psbt_roles
from chains.bitcoin.errors import SignerError, TxNotFound
from chains.bitcoin.esplora import EsploraClient
from chains.bitcoin.payout import PayoutOutput, build_transaction
from chains.bitcoin.signers import Signer
from chains.bitcoin.wallet import CHANGE_BRANCH, CustodyWallet
from config.settings import Settings
from db import ledger
from db.audit import record_audit
from db.models import Payout, PayoutItem, PayoutSignature, PayoutVersion
from db.models.base import utcnow
from db.queries import custody, operations
from db.queries import payouts as pq
from db.queries import withdrawals as wq
from domain import entries as e
from domain.bitcoin_address import parse_address
from domain.bitcoin_payout import InsufficientFunds, SpendableUtxo, clamp_fee_rate
from domain.payout_batches import BatchPlan, BatchRecipient, DustShares, plan_batch
from domain.utxo_set import ChainView, UtxoState

log = logging.getLogger(__name__)


class PayoutBuilder:
    """Payout construction over one worker's Esplora client, custody wallet and signer."""

    def __init__(self, *, settings: Settings, esplora: EsploraClient, wallet: CustodyWallet,
                 signer: Callable[[], Signer]) -> None:
        self.settings = settings
        self.esplora = esplora
        self.wallet = wallet
        self.signer = signer
        self.books = PayoutBooks(settings, wallet)
        self._custody = CustodyBooks(settings)

    async def fee_rate(self, target_blocks: int) -> int:
        """The clamped fee rate (sat/vB) for ``target_blocks`` from Esplora's ``fee-estimates``."""
        b = self.settings.bitcoin
        return clamp_fee_rate((await self.esplora.fee_estimates()).rates_sat_vb, target_blocks=target_blocks,
                              floor_sat_vb=b.fee_rate_floor_sat_vb, cap_sat_vb=b.fee_rate_cap_sat_vb)

    async def previous_txs(self, txids: Sequence[str], known: dict[str, str] | None = None) -> dict[str, str]:
        """Raw transactions the inputs spend (``non_witness_utxo``, which hardware signers need)."""
        found = dict(known or {})
        for txid in dict.fromkeys(txids):
            if txid not in found:
                found[txid] = await self.esplora.transaction_hex(txid)
        return found

    # ---- coins ----------------------------------------------------------------------------------
    async def still_spendable(self, session: AsyncSession, row, tip: int) -> bool:
        """The chain still has ``row`` confirmed and unspent; otherwise the set follows the chain."""
        try:
            status = await self.esplora.transaction_status(row.txid)
            spent = await self.esplora.outspend(row.txid, row.vout)
        except TxNotFound:
            await self._custody.follow(session, row, ChainView.MISSING, tip_height=tip)
            return False
        if not status.confirmed:
            await self._custody.follow(session, row, ChainView.MEMPOOL, tip_height=tip)
            return False
        if spent.spent:
            row.state, row.spent_txid, row.updated_at = UtxoState.SPENT, spent.txid, utcnow()
            raise_alert("custody_output_spent_outside_the_engine", "a custody output chosen for a payout is spent "
                        "by a transaction the engine did not sign", outpoint=row.outpoint, spent_by=spent.txid)
            return False
        return True

    async def _plan(self, session: AsyncSession, members: list[PayoutItem], rate: int) -> tuple[BatchPlan | None, list]:
        """Plan ``members`` (in order) on live coins; drop members that cannot be paid.

        Returns the plan (None when nobody can be paid now) and the candidate rows. Members
        whose share leaves them dust, or who cannot be paid with nothing coming back, are
        ``failed``; the last members wait in the queue when funds fall short.
        """
        b = self.settings.bitcoin
        candidates = await custody.lock_spendable(session)
        live = list(candidates)
        tip = await self.esplora.tip_height()
        while members:
            utxos = [SpendableUtxo(r.txid, r.vout, r.value_sats, branch, index) for r, branch, index in live]
            recipients = [BatchRecipient(str(m.id), parse_address(m.recipient_address, b.network).script_type,
                                         m.amount_sats) for m in members]
            try:
                plan = plan_batch(recipients=recipients, fee_rate_sat_vb=rate, utxos=utxos, custody=self.wallet.script,
                                  dust_limit_sats=b.dust_limit_sats)
            except DustShares as exc:
                for m in members:
                    if str(m.id) in exc.item_ids:
                        self._fail(m, "dust_output")
                members[:] = [m for m in members if str(m.id) not in exc.item_ids]
                continue
            except InsufficientFunds:
                if len(members) > 1:
                    members.pop()  # waits in the queue for the next batch
                    continue
                if not await custody.unconfirmed_payout_funds(session):
                    self._fail(members[0], "insufficient_funds")
                members.clear()
                continue
            rows = {r.outpoint: r for r, _, _ in live}
            stale = {u.outpoint for u in plan.inputs if not await self.still_spendable(session, rows[u.outpoint], tip)}
            if not stale:
                return plan, candidates
            live = [c for c in live if c[0].outpoint not in stale]
        return None, candidates

    @staticmethod
    def _fail(item: PayoutItem, error: str) -> None:
        item.status, item.error, item.updated_at = "failed", error, utcnow()

    # ---- a batch ----------------------------------------------------------------------------------
    async def cut(self, session: AsyncSession, members: list[PayoutItem], *, asap: bool = False,
                  legacy_operation_id: uuid.UUID | None = None) -> Payout | None:
        """One payout for ``members`` (queued items, locked, in queue order); None when nobody
        can be paid now (they stay queued, or are ``failed``). Call under ``lock_batching``."""
        rate = await self.fee_rate(self.settings.bitcoin.fee_target_blocks)
        members = list(members)
        plan, candidates = await self._plan(session, members, rate)
        if plan is None:
            return None
        by_id = {str(m.id): m for m in members}
        change_index = await wq.next_change_index(session)
        outputs = [PayoutOutput(parse_address(by_id[o.item_id].recipient_address, self.settings.bitcoin.network)
                                .script_pubkey, o.receives_sats) for o in plan.outputs]
        change_vout = None
        if plan.change_sats:
            change_vout = len(outputs)
            outputs.append(PayoutOutput(self.wallet.derive(CHANGE_BRANCH, change_index).script_pubkey, plan.change_sats))
        previous = await self.previous_txs([u.txid for u in plan.inputs])
        psbt = build_transaction(self.wallet, inputs=plan.inputs, outputs=outputs, change_vout=change_vout,
                                 change_index=change_index, previous_txs=previous)
        txid = psbt.tx.txid().hex()
        payout = Payout(status="awaiting_signature", amount_sats=plan.amount_sats, fee_sats=plan.fee_sats,
                        fee_rate_sat_vb=rate, asap=asap, operation_id=legacy_operation_id, current_version=0,
                        txid=txid)
        session.add(payout)
        await session.flush()
        version = PayoutVersion(
            payout_id=payout.id, version=0, kind="original", status="awaiting_signature", txid=txid, parent_txid=txid,
            psbt=psbt.to_string(), inputs=pq.inputs_json(plan.inputs), outputs=_outputs_json(outputs, plan, change_vout),
            change_sats=plan.change_sats, change_index=change_index, change_vout=change_vout, fee_sats=plan.fee_sats,
            fee_rate_sat_vb=rate, vsize_vb=plan.vsize_vb, extra_fee_sats=0, signatures_required=self.wallet.threshold,
        )
        session.add(version)
        await session.flush()
        now = utcnow()
        items = []
        for vout, out in enumerate(plan.outputs):
            item = by_id[out.item_id]
            item.payout_id, item.status, item.vout = payout.id, "batched", vout
            item.fee_share_sats, item.recipient_sats, item.updated_at = out.fee_share_sats, out.receives_sats, now
            items.append(item)
        chosen = {u.outpoint for u in plan.inputs}
        for row, _, _ in candidates:
            if row.outpoint in chosen:
                row.state, row.reserved_by, row.reserved_version, row.updated_at = (
                    UtxoState.RESERVED, payout.id, 0, now)
        record_audit(session, action="payout.created", resource_type="payout", resource_id=payout.id, new_values={
            "txid": txid, "withdrawals": len(items), "fee_sats": plan.fee_sats, "fee_rate_sat_vb": rate,
            "vsize_vb": plan.vsize_vb, "inputs": len(plan.inputs), "change_sats": plan.change_sats})
        await self.sign_and_store(session, payout, version, items)
        if version.tx_hex is None:
            for item in items:
                op = await operations.get_by_id(session, operation_id=item.operation_id, for_update=True)
                assert op is not None
                self.books._show_on_operation(session, op, payout, item, "withdrawal.payout_awaiting_signature",
                                              len(items))
        return payout

    # ---- signatures -------------------------------------------------------------------------------
    async def sign_and_store(self, session: AsyncSession, payout: Payout, version: PayoutVersion,
                             items: list[PayoutItem]) -> None:
        """Add the hot signer's signatures (if it holds a key), then finalize if the quorum is met."""
        signer = self.signer()
        if signer.key_index is not None:
            signed = signer.sign_psbt(version.psbt)
            added = psbt_roles.contribution(self.wallet, version.psbt, signed)
            version.psbt = psbt_roles.combine(version.psbt, added)
            session.add(PayoutSignature(version_id=version.id, key_index=added.key_index,
                                        fingerprint=added.fingerprint, signer="hot"))
        await self.try_finalize(session, payout, version, items)

    async def accept(self, session: AsyncSession, payout: Payout, version: PayoutVersion, psbt: str,
                     operator_id: str) -> PayoutSignature:
        """Merge one external signer's contribution into ``version`` (locked) and finalize when
        the quorum is met; audited with the operator.

        Raises:
            SignerError / PsbtMismatch: the contribution is refused (``psbt_roles`` codes, and
                ``signer_already_signed``: this operator contributed a key to this version already).
        """
        user = uuid.UUID(operator_id)
        if any(s.user_id == user for s in await pq.signatures_of(session, version.id)):
            raise SignerError("you contributed a signature to this payout version already; each signer holds one key",
                              code="signer_already_signed")
        added = psbt_roles.contribution(self.wallet, version.psbt, psbt)
        version.psbt, version.updated_at = psbt_roles.combine(version.psbt, added), utcnow()
        row = PayoutSignature(version_id=version.id, key_index=added.key_index, fingerprint=added.fingerprint,
                              signer="external", user_id=user)
        session.add(row)
        record_audit(session, action="payout.signature_added", resource_type="payout", resource_id=payout.id,
                     actor_id=user, new_values={"version": version.version, "key_index": added.key_index,
                                                "fingerprint": added.fingerprint, "txid": version.txid})
        items = await pq.items_of(session, payout.id, for_update=True)
        await self.try_finalize(session, payout, version, items)
        return row

    async def try_finalize(self, session: AsyncSession, payout: Payout, version: PayoutVersion,
                           items: list[PayoutItem]) -> bool:
        """Store and book the transaction once the quorum signed (True); False while signatures
        are missing or the fee reserve cannot pay a bump (alerted; retried later)."""
        if version.tx_hex is not None:
            return True
        tx = psbt_roles.finalize(version.psbt)
        if tx is None:
            return False
        if version.extra_fee_sats and not await self.reserve_covers(session, payout, version.extra_fee_sats):
            return False
        version.tx_hex = tx.serialize().hex()
        await self.books.book_signed(session, payout, version, items)
        return True


    async def reserve_covers(self, session: AsyncSession, payout: Payout, extra_fee_sats: int) -> bool:
        """The fee reserve (row locked) can pay ``extra_fee_sats``; alerted when it cannot."""
        reserve = (await ledger.lookup_accounts(session, [e.FEE_RESERVE], for_update=True)).get(e.FEE_RESERVE)
        available = reserve.credit_available if reserve is not None else 0
        if available >= extra_fee_sats:
            return True
        raise_alert("fee_reserve_insufficient", "the fee reserve cannot pay a payout bump; fund it",
                    payout_id=str(payout.id), extra_fee_sats=extra_fee_sats, reserve_sats=available)
        return False


def _outputs_json(outputs: list[PayoutOutput], plan: BatchPlan, change_vout: int | None) -> list[dict]:
    ids = [o.item_id for o in plan.outputs]
    return [{"script_pubkey": o.script_pubkey.hex(), "amount_sats": o.amount_sats,
             "item_id": ids[i] if i < len(ids) else None} for i, o in enumerate(outputs)]
