"""Withdrawal activities on Bitcoin: build and sign the payout, store it, broadcast, follow it.

No double send, by construction:

1. ``prepare_payout`` selects coins from the custody UTXO set (confirmed, unreserved rows, locked;
   the chosen ones become ``reserved`` by the payout), builds the PSBT (BIP 174) and, with the
   hot signer, signs it; the payout row, the reservation, the change output (entering the set as
   ``seen``) and the pending ledger transfers commit together *before* anything is broadcast. A
   retry finds the row and returns it: a withdrawal never signs a second transaction.
2. With the external signer the row waits in ``awaiting_signature`` until
   ``accept_signed_psbt`` checks the returned PSBT pays exactly the stored outputs; the change
   and the pending transfers are booked then.
3. ``broadcast_payout`` sends the *stored* bytes. Esplora treats an already-known transaction as
   success; a lost response (``ChainUnavailable``) is resolved by looking the txid up.
4. ``check_payout`` reads the depth; a payout that fell out of the mempool is re-sent (same txid).

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

from activities import withdrawal_types as t
from activities.alerts import raise_alert
from activities.custody_books import CustodyBooks
from activities.withdrawal_support import audit, load_operation
from chains.bitcoin.errors import ChainError, ChainUnavailable, SignerError, TxNotFound, TxRejected, WalletError
from chains.bitcoin.esplora import EsploraClient
from chains.bitcoin.payout import PayoutOutput, UnsignedPayout, build_payout_for_plan
from chains.bitcoin.setup import payout_signer
from chains.bitcoin.signers import ExternalSigner, SignedPayout, Signer
from chains.bitcoin.wallet import CHANGE_BRANCH, CustodyWallet
from config.settings import Settings
from db import ledger
from db.models import Payout
from db.models.base import utcnow
from db.queries import custody
from db.queries import withdrawals as wq
from db.queries.operations import snapshot
from db.session import transaction
from domain import entries as e
from domain.bitcoin_address import AddressError, ScriptType, parse_address
from domain.bitcoin_payout import (
    InsufficientFunds,
    PayoutError,
    PayoutPlan,
    SpendableUtxo,
    clamp_fee_rate,
    estimate_vsize,
)
from domain.utxo_set import ChainView, UtxoState
from domain.withdrawals import plan_withdrawal_payout

log = logging.getLogger(__name__)


def _state(row: Payout) -> t.PayoutState:
    return t.PayoutState(row.status, row.txid, row.amount_sats, row.fee_sats, row.psbt)


class PayoutActivities:
    """Bitcoin steps of one withdrawal over the worker's Esplora client and custody wallet."""

    def __init__(
        self, *, settings: Settings, sessions: async_sessionmaker[AsyncSession], esplora: EsploraClient,
        wallet: CustodyWallet, signer: Signer | None = None,
    ) -> None:
        self._settings = settings
        self._sessions = sessions
        self._esplora = esplora
        self._wallet = wallet
        self._signer = signer
        self._books = CustodyBooks(settings)

    def all(self) -> list[Callable[..., Awaitable[Any]]]:
        return [self.prepare_payout, self.accept_signed_psbt, self.broadcast_payout, self.check_payout]

    def signer(self) -> Signer:
        """The configured signer, built on first use (a hot signer without its key refuses)."""
        if self._signer is None:
            try:
                self._signer = payout_signer(self._settings.bitcoin, self._wallet)
            except (WalletError, SignerError) as exc:
                raise ApplicationError(str(exc), type="signer_unavailable", non_retryable=True) from exc
        return self._signer

    async def _book_signed(self, session: AsyncSession, row: Payout) -> None:
        """A payout is signed: its change enters the UTXO set and its BTC leaves custody, pending
        until it confirms (same transaction as the stored signed transaction)."""
        if row.change_sats:
            change = self._wallet.derive(CHANGE_BRANCH, row.change_index)
            await custody.watch_address(session, address=change.address, branch=CHANGE_BRANCH,
                                        derivation_index=row.change_index)
            await custody.insert_new(session, {
                "outpoint": f"{row.txid}:1", "txid": row.txid, "vout": 1, "value_sats": row.change_sats,
                "address": change.address, "state": UtxoState.SEEN.value, "change_of": row.id,
            })
        for utxo in await custody.reserved_by(session, row.id):  # the books now hold their amount as pending
            utxo.payout_signed = True
        await ledger.post(session, e.payout_signed(row.operation_id, recipient_sats=row.amount_sats, fee_sats=row.fee_sats),
                          token_address=self._settings.soroban.contracts.istsi_token)

    async def _plan_on_live_coins(self, session: AsyncSession, amount: int, recipient_type, rate: int, candidates):
        """Choose inputs and make sure the chain still has each one unspent and confirmed before
        anything is signed (the scanner may not have seen the newest block yet). A coin the chain
        no longer has is taken out of the set through the books, and the choice is made again.

        Raises:
            InsufficientFunds: the live coins cannot pay ``amount``.
        """
        b = self._settings.bitcoin
        live = list(candidates)
        tip = await self._esplora.tip_height()
        while True:
            utxos = [SpendableUtxo(r.txid, r.vout, r.value_sats, branch, index) for r, branch, index in live]
            plan = plan_withdrawal_payout(amount_sats=amount, recipient_type=recipient_type, fee_rate_sat_vb=rate,
                                          utxos=utxos, dust_limit_sats=b.dust_limit_sats)
            stale = set()
            rows = {r.outpoint: r for r, _, _ in live}
            for utxo in plan.inputs:
                if not await self._still_spendable(session, rows[utxo.outpoint], tip):
                    stale.add(utxo.outpoint)
            if not stale:
                return plan
            live = [c for c in live if c[0].outpoint not in stale]

    async def _still_spendable(self, session: AsyncSession, row, tip: int) -> bool:
        try:
            status = await self._esplora.transaction_status(row.txid)
            spent = await self._esplora.outspend(row.txid, row.vout)
        except TxNotFound:
            await self._books.follow(session, row, ChainView.MISSING, tip_height=tip)
            return False
        if not status.confirmed:
            await self._books.follow(session, row, ChainView.MEMPOOL, tip_height=tip)
            return False
        if spent.spent:
            row.state, row.spent_txid, row.updated_at = UtxoState.SPENT, spent.txid, utcnow()
            raise_alert("custody_output_spent_outside_the_engine", "a custody output chosen for a payout is spent "
                        "by a transaction the engine did not sign", outpoint=row.outpoint, spent_by=spent.txid)
            return False
        return True

    @activity.defn(name=t.PREPARE_PAYOUT)
    async def prepare_payout(self, ref: t.OperationRef) -> t.PayoutState:
        """Build (and with the hot signer, sign) the payout and store it; return the stored one
        on every later call.

        Raises:
            ApplicationError ``payout_unbuildable`` (non-retryable): funds, dust, address or
            signing refused; ``signer_unavailable``: the hot signer has no usable key.
            ChainError: Esplora unavailable (retried).
        """
        b = self._settings.bitcoin
        signer = self.signer()
        async with transaction(self._sessions) as session:
            op = await load_operation(session, ref.operation_id, for_update=True)
            existing = await wq.get_payout(session, operation_id=op.id)
            if existing is not None:
                return _state(existing)
            await wq.lock_coin_selection(session)
            try:
                recipient = parse_address((op.meta or {})["btc_address"], b.network)
                rate = clamp_fee_rate((await self._esplora.fee_estimates()).rates_sat_vb, target_blocks=b.fee_target_blocks,
                                      floor_sat_vb=b.fee_rate_floor_sat_vb, cap_sat_vb=b.fee_rate_cap_sat_vb)
                candidates = await custody.lock_spendable(session)
                try:
                    plan = await self._plan_on_live_coins(session, op.amount or 0, recipient.script_type, rate, candidates)
                except InsufficientFunds:
                    if not await custody.unconfirmed_payout_funds(session):
                        raise
                    # Outputs are tied up in unconfirmed payouts whose change will come back.
                    return t.PayoutState(t.FUNDS_PENDING, "", 0, 0, "")
                change_index = await wq.next_change_index(session)
                unsigned = build_payout_for_plan(self._wallet, recipient_address=recipient.address, plan=plan,
                                                 change_index=change_index)
                signed = signer.sign(unsigned)
            except (PayoutError, AddressError, SignerError) as exc:
                raise ApplicationError(str(exc), {"code": exc.code}, type=t.PAYOUT_UNBUILDABLE, non_retryable=True) from exc
            row = Payout(
                operation_id=op.id, recipient_address=recipient.address, amount_sats=plan.amount_sats,
                fee_sats=plan.fee_sats, fee_rate_sat_vb=rate, change_sats=plan.change_sats, change_index=change_index,
                inputs=wq.inputs_json(plan.inputs), psbt=unsigned.psbt, txid=unsigned.unsigned_txid,
                status="signed" if isinstance(signed, SignedPayout) else "awaiting_signature",
                tx_hex=signed.tx_hex if isinstance(signed, SignedPayout) else None,
            )
            session.add(row)
            await session.flush()
            chosen = {u.outpoint for u in plan.inputs}
            for utxo, _, _ in candidates:
                if utxo.outpoint in chosen:
                    utxo.state, utxo.reserved_by, utxo.updated_at = UtxoState.RESERVED, row.id, utcnow()
            if row.status == "signed":
                await self._book_signed(session, row)
            before = snapshot(op)
            audit(session, op, f"withdrawal.payout_{row.status}", before,
                  extra={"txid": row.txid, "fee_sats": row.fee_sats, "recipient_sats": row.amount_sats})
        return _state(row)

    def _unsigned(self, row: Payout) -> UnsignedPayout:
        """The stored payout as the signer saw it (outputs and plan rebuilt from the row)."""
        inputs = tuple(
            SpendableUtxo(i["outpoint"].split(":")[0], int(i["outpoint"].split(":")[1]), i["amount_sats"], i["branch"],
                          i["derivation_index"]) for i in row.inputs
        )
        recipient = parse_address(row.recipient_address, self._settings.bitcoin.network)
        outputs = [PayoutOutput(recipient.script_pubkey, row.amount_sats)]
        kinds = [recipient.script_type]
        if row.change_sats:
            outputs.append(PayoutOutput(self._wallet.derive(CHANGE_BRANCH, row.change_index).script_pubkey, row.change_sats))
            kinds.append(ScriptType.P2WPKH)
        plan = PayoutPlan(inputs, row.amount_sats, row.fee_sats, row.change_sats, row.fee_rate_sat_vb,
                          estimate_vsize(len(inputs), kinds))
        return UnsignedPayout(row.psbt, plan, tuple(outputs), row.recipient_address, row.change_index)

    @activity.defn(name=t.ACCEPT_SIGNED_PSBT)
    async def accept_signed_psbt(self, inp: t.SignedPsbtInput) -> t.PayoutState:
        """Check an externally signed PSBT against the stored payout and store the transaction.

        Raises ApplicationError ``invalid_signed_psbt`` (non-retryable): other inputs or outputs,
        missing or bad signatures, or the payout is not awaiting a signature.
        """
        async with transaction(self._sessions) as session:
            op = await load_operation(session, inp.operation_id, for_update=True)
            row = await wq.get_payout(session, operation_id=op.id, for_update=True)
            if row is None or row.status != "awaiting_signature":
                if row is not None and row.status == "signed":
                    return _state(row)  # a retry after commit
                raise ApplicationError("no payout awaits a signature", type=t.INVALID_SIGNED_PSBT, non_retryable=True)
            try:
                signed = ExternalSigner().accept_signed(self._unsigned(row), inp.psbt)
            except SignerError as exc:
                raise ApplicationError(str(exc), {"code": exc.code}, type=t.INVALID_SIGNED_PSBT, non_retryable=True) from exc
            before = snapshot(op)
            row.tx_hex, row.status, row.updated_at = signed.tx_hex, "signed", utcnow()
            await self._book_signed(session, row)
            audit(session, op, "withdrawal.payout_signed", before, actor_id=inp.operator_id, extra={"txid": row.txid})
        return _state(row)

    async def _stored(self, operation_id: str) -> Payout:
        async with self._sessions() as session:
            row = await wq.get_payout(session, operation_id=uuid.UUID(operation_id))
        if row is None or row.tx_hex is None:
            raise ApplicationError("the payout is not signed", type="withdrawal_state_conflict", non_retryable=True)
        return row

    @activity.defn(name=t.BROADCAST)
    async def broadcast_payout(self, ref: t.OperationRef) -> str:
        """Broadcast the stored transaction (idempotent); mark it ``broadcast``; return the txid.

        Raises:
            ApplicationError ``payout_rejected`` (non-retryable): the node refused it and does
            not know it. ChainError: Esplora unavailable and the txid not found (retried).
        """
        row = await self._stored(ref.operation_id)
        assert row.tx_hex is not None
        try:
            await self._esplora.broadcast(row.tx_hex)
        except ChainUnavailable:
            # The request may have reached the node: ask for the txid before anything else.
            await self._esplora.transaction_status(row.txid)  # TxNotFound → retried, same bytes
            log.warning("broadcast of %s had no answer, but the chain knows it", row.txid)
        except TxRejected as exc:
            raise ApplicationError(exc.reason, type="payout_rejected", non_retryable=True) from exc
        async with transaction(self._sessions) as session:
            op = await load_operation(session, ref.operation_id, for_update=True)
            payout = await wq.get_payout(session, operation_id=op.id, for_update=True)
            assert payout is not None
            if payout.status == "signed":
                before = snapshot(op)
                payout.status, payout.updated_at = "broadcast", utcnow()
                op.btc_tx_hash, op.updated_at = payout.txid, utcnow()
                audit(session, op, "withdrawal.payout_broadcast", before, extra={"txid": payout.txid})
        return row.txid

    @activity.defn(name=t.CHECK_PAYOUT)
    async def check_payout(self, ref: t.OperationRef) -> t.PayoutDepth:
        """Depth of the payout on the canonical chain; re-send the stored bytes if it is unknown."""
        row = await self._stored(ref.operation_id)
        assert row.tx_hex is not None
        try:
            status = await self._esplora.transaction_status(row.txid)
        except TxNotFound:
            try:
                await self._esplora.broadcast(row.tx_hex)  # evicted or reorged out: same txid again
            except (TxRejected, ChainError) as exc:
                log.warning("re-broadcast of %s failed: %s", row.txid, exc)
            return t.PayoutDepth(0, None)
        if not status.confirmed or status.block_height is None:
            return t.PayoutDepth(0, None)
        tip = await self._esplora.tip_height()
        return t.PayoutDepth(tip - status.block_height + 1, status.block_height)
