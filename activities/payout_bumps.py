"""Building the next version of a stuck payout: a BIP 125 replacement (RBF) or a child paying for
it (CPFP), by the rules of :mod:`domain.fee_bumps`.

RBF keeps every input and every recipient output and takes the extra fee out of custody's
change; when the change cannot absorb it, one more confirmed custody coin is added (BIP 125 rule
2 allows a confirmed new input). RBF is not used when a recipient already spends its output in
the mempool (the replacement would evict their transaction and pay for it), when the node
refused a replacement, or when ``bitcoin.fee_bump_method`` is ``cpfp``: then a child spends the
parent's change back to custody at the package rate; a later bump replaces that child.

The version is stored, signed by the hot signer if it holds a key, finalized and booked when the
quorum is met (:class:`activities.payout_building.PayoutBuilder`), all in the caller's
transaction, before any broadcast. The fee reserve must cover the extra fee.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from activities.payout_building import PayoutBuilder
from chains.bitcoin.errors import TxNotFound
from chains.bitcoin.payout import PayoutOutput, build_transaction
from chains.bitcoin.wallet import CHANGE_BRANCH
from contracts import payouts as t
from db.models import Payout, PayoutVersion
from db.models.base import utcnow
from db.queries import custody
from db.queries import payouts as pq
from db.queries import withdrawals as wq
from domain.bitcoin_payout import TX_OVERHEAD_WU, SpendableUtxo, estimate_vsize, min_output_sats
from domain.fee_bumps import (
    BumpMethod,
    BumpRefused,
    ChangeTooSmall,
    cpfp_child_fee_sats,
    reduced_change,
    replacement_fee_sats,
    target_fee_rate,
)
from domain.utxo_set import UtxoState


def _vsize(n_inputs: int, input_weight_wu: int, output_scripts: list[bytes]) -> int:
    """Upper-bound vsize (vB) of a transaction with these output scripts (BIP 141)."""
    weight = TX_OVERHEAD_WU + n_inputs * input_weight_wu + sum(4 * (8 + 1 + len(s)) for s in output_scripts)
    return -(-weight // 4)


def _utxos(inputs: list[dict]) -> list[SpendableUtxo]:
    return [SpendableUtxo(i["outpoint"].rsplit(":", 1)[0], int(i["outpoint"].rsplit(":", 1)[1]), i["amount_sats"],
                          i["branch"], i["derivation_index"]) for i in inputs]


class BumpPlanner:
    """Makes version ``current + 1`` of a payout (see module docstring)."""

    def __init__(self, builder: PayoutBuilder) -> None:
        self.builder = builder
        self.settings = builder.settings
        self.wallet = builder.wallet

    @property
    def _min_change(self) -> int:
        return min_output_sats(self.wallet.script.output_type, self.settings.bitcoin.dust_limit_sats)

    async def bump(self, session: AsyncSession, payout: Payout, request: t.BumpRequest | None) -> PayoutVersion:
        """The new version, stored (signed and booked if the quorum is met).

        Raises:
            BumpRefused: at the fee cap, change too small for either method, the fee reserve
                cannot pay (``fee_reserve_insufficient``).
        """
        versions = {v.version: v for v in await pq.versions(session, payout.id, for_update=True)}
        current = versions[payout.current_version]
        parent = next(v for v in versions.values() if v.txid == current.parent_txid)
        b = self.settings.bitcoin
        estimate = await self.builder.fee_rate(b.fee_bump_target_blocks)
        requested = request.fee_rate_sat_vb if request else None
        method = BumpMethod((request.method if request and request.method else None) or b.fee_bump_method)
        if current.kind == "cpfp":
            method = BumpMethod.CPFP  # bump the child again (a replacement of the child)
        elif method == BumpMethod.RBF and await self._recipients_spend(parent):
            method = BumpMethod.CPFP
        number = max(versions) + 1
        if method == BumpMethod.RBF:
            try:
                version = await self._rbf(session, payout, current, number, estimate, requested)
            except ChangeTooSmall:
                if parent.change_vout is None:
                    raise
                version = await self._cpfp(session, payout, current, parent, number, estimate, requested)
        else:
            version = await self._cpfp(session, payout, current, parent, number, estimate, requested)
        if not await self.builder.reserve_covers(session, payout, version.extra_fee_sats):
            raise BumpRefused("the fee reserve cannot pay the bump; fund it", code="fee_reserve_insufficient")
        session.add(version)
        await session.flush()
        await self._reserve_added_inputs(session, payout, version, current)
        items = await pq.items_of(session, payout.id, for_update=True)
        await self.builder.sign_and_store(session, payout, version, items)
        return version

    async def _recipients_spend(self, parent: PayoutVersion) -> bool:
        """A recipient already spends its output in the mempool (RBF would evict their transaction)."""
        for vout, out in enumerate(parent.outputs):
            if out.get("item_id") is None:
                continue
            try:
                if (await self.builder.esplora.outspend(parent.txid, vout)).spent:
                    return True
            except TxNotFound:
                return False
        return False

    async def _rbf(self, session: AsyncSession, payout: Payout, current: PayoutVersion, number: int, estimate: int,
                   requested: int | None) -> PayoutVersion:
        b = self.settings.bitcoin
        rate = target_fee_rate(current_sat_vb=current.fee_rate_sat_vb, estimate_sat_vb=estimate,
                               cap_sat_vb=b.fee_rate_cap_sat_vb, requested_sat_vb=requested)
        inputs = _utxos(current.inputs)
        outputs = [PayoutOutput(bytes.fromhex(o["script_pubkey"]), o["amount_sats"]) for o in current.outputs]
        change_vout, change_sats = current.change_vout, current.change_sats
        weight = self.wallet.script.input_weight_wu
        vsize = _vsize(len(inputs), weight, [o.script_pubkey for o in outputs])
        fee = replacement_fee_sats(replaced_fee_sats=current.fee_sats, replaced_vsize_vb=current.vsize_vb,
                                   new_vsize_vb=vsize, target_rate_sat_vb=rate)
        if change_vout is None or change_sats - (fee - current.fee_sats) < self._min_change:
            coin = await self._one_more_coin(session)
            if coin is None:
                raise ChangeTooSmall("the change cannot pay the bump and no other coin is available")
            inputs.append(coin)
            if change_vout is None:
                change_vout = len(outputs)
                outputs.append(PayoutOutput(self.wallet.derive(CHANGE_BRANCH, current.change_index).script_pubkey, 0))
            vsize = _vsize(len(inputs), weight, [o.script_pubkey for o in outputs])
            fee = replacement_fee_sats(replaced_fee_sats=current.fee_sats, replaced_vsize_vb=current.vsize_vb,
                                       new_vsize_vb=vsize, target_rate_sat_vb=rate)
            change_sats += coin.amount_sats
        new_change = reduced_change(change_sats=change_sats, extra_fee_sats=fee - current.fee_sats,
                                    min_change_sats=self._min_change)
        outputs[change_vout] = PayoutOutput(outputs[change_vout].script_pubkey, new_change)
        previous = await self.builder.previous_txs([u.txid for u in inputs])
        psbt = build_transaction(self.wallet, inputs=inputs, outputs=outputs, change_vout=change_vout,
                                 change_index=current.change_index, previous_txs=previous)
        txid = psbt.tx.txid().hex()
        items = [o.get("item_id") for o in current.outputs] + [None] * (len(outputs) - len(current.outputs))
        return PayoutVersion(
            payout_id=payout.id, version=number, kind="rbf", status="awaiting_signature", txid=txid, parent_txid=txid,
            psbt=psbt.to_string(), inputs=pq.inputs_json(inputs),
            outputs=[{"script_pubkey": o.script_pubkey.hex(), "amount_sats": o.amount_sats, "item_id": items[i]}
                     for i, o in enumerate(outputs)],
            change_sats=new_change, change_index=current.change_index, change_vout=change_vout, fee_sats=fee,
            fee_rate_sat_vb=fee // vsize, vsize_vb=vsize, extra_fee_sats=fee - current.fee_sats,
            signatures_required=self.wallet.threshold,
        )

    async def _one_more_coin(self, session: AsyncSession) -> SpendableUtxo | None:
        """The largest confirmed, unreserved custody coin the chain still has (locked)."""
        tip = await self.builder.esplora.tip_height()
        for row, branch, index in await custody.lock_spendable(session, limit=20):
            if await self.builder.still_spendable(session, row, tip):
                return SpendableUtxo(row.txid, row.vout, row.value_sats, branch, index)
        return None

    async def _cpfp(self, session: AsyncSession, payout: Payout, current: PayoutVersion, parent: PayoutVersion,
                    number: int, estimate: int, requested: int | None) -> PayoutVersion:
        b = self.settings.bitcoin
        if parent.change_vout is None or parent.tx_hex is None:
            raise ChangeTooSmall("the payout has no change a child could spend")
        rate = target_fee_rate(current_sat_vb=current.fee_rate_sat_vb, estimate_sat_vb=estimate,
                               cap_sat_vb=b.fee_rate_cap_sat_vb, requested_sat_vb=requested)
        change = self.wallet.derive(CHANGE_BRANCH, parent.change_index)
        spend = SpendableUtxo(parent.txid, parent.change_vout, parent.change_sats, CHANGE_BRANCH, parent.change_index)
        child_vsize = estimate_vsize(1, [self.wallet.script.output_type], input_weight_wu=self.wallet.script.input_weight_wu)
        replaced = current if current.kind == "cpfp" else None
        fee = cpfp_child_fee_sats(
            parent_fee_sats=parent.fee_sats, parent_vsize_vb=parent.vsize_vb, child_vsize_vb=child_vsize,
            target_rate_sat_vb=rate, replaced_child_fee_sats=replaced.fee_sats if replaced else None,
            replaced_child_vsize_vb=replaced.vsize_vb if replaced else None)
        left = parent.change_sats - fee
        if left < self._min_change:
            raise ChangeTooSmall(f"{parent.change_sats} sats of change cannot pay a {fee}-sat child")
        assert change.script_pubkey  # the parent's change is custody's own
        change_index = await wq.next_change_index(session)
        outputs = [PayoutOutput(self.wallet.derive(CHANGE_BRANCH, change_index).script_pubkey, left)]
        psbt = build_transaction(self.wallet, inputs=[spend], outputs=outputs, change_vout=0, change_index=change_index,
                                 previous_txs={parent.txid: parent.tx_hex})
        package_rate = (parent.fee_sats + fee) // (parent.vsize_vb + child_vsize)
        return PayoutVersion(
            payout_id=payout.id, version=number, kind="cpfp", status="awaiting_signature", txid=psbt.tx.txid().hex(),
            parent_txid=parent.txid, psbt=psbt.to_string(), inputs=pq.inputs_json([spend]),
            outputs=[{"script_pubkey": outputs[0].script_pubkey.hex(), "amount_sats": left, "item_id": None}],
            change_sats=left, change_index=change_index, change_vout=0, fee_sats=fee, fee_rate_sat_vb=package_rate,
            vsize_vb=child_vsize, extra_fee_sats=fee - (replaced.fee_sats if replaced else 0),
            signatures_required=self.wallet.threshold,
        )

    async def _reserve_added_inputs(self, session: AsyncSession, payout: Payout, version: PayoutVersion,
                                    current: PayoutVersion) -> None:
        """An RBF's extra coin is reserved by the new version (counted until it is signed)."""
        if version.kind != "rbf":
            return
        known = {i["outpoint"] for i in current.inputs}
        added = [i["outpoint"] for i in version.inputs if i["outpoint"] not in known]
        for row in (await custody.get_many(session, added, for_update=True)).values():
            row.state, row.reserved_by, row.reserved_version, row.updated_at = (
                UtxoState.RESERVED, payout.id, version.version, utcnow())
