"""Build unsigned payout PSBTs from custody UTXOs (BIP 174 creator and updater roles), with change
on the internal chain: one withdrawal (:func:`build_payout`), a batch (:func:`build_transaction`
with a :class:`domain.payout_batches.BatchPlan`'s outputs), its BIP 125 replacement (the same
inputs and outputs, a smaller change) and a CPFP child (spending the change back to custody).

Every input carries its ``witness_utxo``, its BIP 32 derivations (every cosigner key of a
multisig) and, for P2WSH, its ``witness_script``; the full previous transaction
(``non_witness_utxo``) is added when given, as hardware signers require for segwit v0. Every
input signals replaceability (nSequence 0xfffffffd, BIP 125).

The flow a single withdrawal takes::

    utxos = await collect_custody_utxos(esplora, wallet, receive_indexes=..., change_indexes=...)
    rate = clamp_fee_rate((await esplora.fee_estimates()).rates_sat_vb, target_blocks=..., floor_sat_vb=..., cap_sat_vb=...)
    payout = build_payout(wallet, recipient_address=..., amount_sats=..., fee_rate_sat_vb=rate, utxos=utxos, change_index=...)
    signed = signer.sign(payout)            # chains.bitcoin.signers; store signed.tx_hex first
    await esplora.broadcast(signed.tx_hex)  # then broadcast
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from embit.psbt import PSBT, DerivationPath
from embit.script import Script
from embit.transaction import Transaction, TransactionInput, TransactionOutput

from chains.bitcoin.esplora import EsploraClient
from chains.bitcoin.wallet import CHANGE_BRANCH, RECEIVE_BRANCH, CustodyWallet
from domain.bitcoin_address import parse_address
from domain.bitcoin_payout import DUST_LIMIT_SATS, PayoutPlan, SpendableUtxo, plan_payout

RBF_SEQUENCE = 0xFFFFFFFD
"""Signals replaceability (BIP 125), so a stuck payout can be fee-bumped."""


@dataclass(frozen=True)
class PayoutOutput:
    """One output the payout must contain: script (bytes) and amount (sats)."""

    script_pubkey: bytes
    amount_sats: int


@dataclass(frozen=True)
class UnsignedPayout:
    """A payout ready to sign.

    Attributes:
        psbt: base64 PSBT (BIP 174) with witness UTXOs and BIP 32 derivations of every input.
        plan: inputs, fee and change chosen.
        outputs: exactly the outputs the transaction pays (recipient first, then change if any).
        recipient_address: the validated destination.
        change_index: internal-chain index of the change output (used even when no change).
    """

    psbt: str
    plan: PayoutPlan
    outputs: tuple[PayoutOutput, ...]
    recipient_address: str
    change_index: int

    @property
    def unsigned_txid(self) -> str:
        """Txid of the payout (segwit txids do not change when signatures are added)."""
        return PSBT.from_string(self.psbt).tx.txid().hex()


async def collect_custody_utxos(
    esplora: EsploraClient,
    wallet: CustodyWallet,
    *,
    receive_indexes: Iterable[int],
    change_indexes: Iterable[int],
    include_unconfirmed: bool = False,
) -> list[SpendableUtxo]:
    """Unspent outputs of the given custody addresses, from Esplora.

    Args:
        receive_indexes: deposit-address derivation indexes (from ``deposit_addresses``).
        change_indexes: internal-chain indexes used by earlier payouts.
        include_unconfirmed: also return mempool outputs (default: confirmed only).

    Raises:
        ChainError subclasses from the client.
    """
    found: list[SpendableUtxo] = []
    for branch, indexes in ((RECEIVE_BRANCH, receive_indexes), (CHANGE_BRANCH, change_indexes)):
        for index in indexes:
            for utxo in await esplora.address_utxos(wallet.derive(branch, index).address):
                if utxo.status.confirmed or include_unconfirmed:
                    found.append(SpendableUtxo(utxo.txid, utxo.vout, utxo.amount_sats, branch, index))
    return found


def build_payout(
    wallet: CustodyWallet,
    *,
    recipient_address: str,
    amount_sats: int,
    fee_rate_sat_vb: int,
    utxos: Sequence[SpendableUtxo],
    change_index: int,
    dust_limit_sats: int = DUST_LIMIT_SATS,
) -> UnsignedPayout:
    """Select coins and build the unsigned PSBT paying ``amount_sats`` to ``recipient_address``.

    Args:
        recipient_address: validated for the wallet's network (checksum and prefix).
        amount_sats: what the recipient receives (sats).
        fee_rate_sat_vb: already clamped to the configured floor and cap (``clamp_fee_rate``).
        utxos: spendable custody outputs.
        change_index: internal-chain index for the change output.
        dust_limit_sats: smallest output created (default 546).

    Raises:
        AddressError: recipient invalid or of another network.
        PayoutError: dust amount or insufficient funds (``domain.bitcoin_payout``).

    Source: BIP 174 (PSBT creator/updater), BIP 84 (change on branch 1), BIP 125 (RBF).
    """
    recipient = parse_address(recipient_address, wallet.network)
    plan = plan_payout(
        amount_sats=amount_sats,
        recipient_type=recipient.script_type,
        fee_rate_sat_vb=fee_rate_sat_vb,
        utxos=utxos,
        dust_limit_sats=dust_limit_sats,
    )
    return build_payout_for_plan(wallet, recipient_address=recipient.address, plan=plan, change_index=change_index)


def build_payout_for_plan(
    wallet: CustodyWallet, *, recipient_address: str, plan: PayoutPlan, change_index: int
) -> UnsignedPayout:
    """The unsigned PSBT of an already chosen ``plan`` (``plan.amount_sats`` to the recipient,
    ``plan.change_sats`` to internal-chain ``change_index`` when non-zero).

    Raises:
        AddressError: recipient invalid or of another network.

    Source: BIP 174 (PSBT creator/updater), BIP 84 (change on branch 1), BIP 125 (RBF).
    """
    recipient = parse_address(recipient_address, wallet.network)
    outputs = [PayoutOutput(recipient.script_pubkey, plan.amount_sats)]
    if plan.change_sats:
        outputs.append(PayoutOutput(wallet.derive(CHANGE_BRANCH, change_index).script_pubkey, plan.change_sats))
    psbt = build_transaction(wallet, inputs=plan.inputs, outputs=outputs,
                             change_vout=1 if plan.change_sats else None, change_index=change_index)
    return UnsignedPayout(psbt.to_string(), plan, tuple(outputs), recipient.address, change_index)


def build_transaction(
    wallet: CustodyWallet,
    *,
    inputs: Sequence[SpendableUtxo],
    outputs: Sequence[PayoutOutput],
    change_vout: int | None,
    change_index: int,
    previous_txs: Mapping[str, str] | None = None,
) -> PSBT:
    """The unsigned PSBT spending ``inputs`` (custody outputs) to ``outputs`` in that order.

    Args:
        change_vout: index in ``outputs`` of the change (internal chain ``change_index``), if any.
        previous_txs: ``txid -> raw hex`` of the transactions the inputs spend, added as
            ``non_witness_utxo`` (optional).

    Source: BIP 174 (creator/updater), BIP 141/143 (witness script), BIP 125 (RBF).
    """
    tx = Transaction(
        version=2,
        vin=[TransactionInput(bytes.fromhex(u.txid), u.vout, sequence=RBF_SEQUENCE) for u in inputs],
        vout=[TransactionOutput(o.amount_sats, Script(o.script_pubkey)) for o in outputs],
        locktime=0,
    )
    psbt = PSBT(tx)
    for psbt_in, utxo in zip(psbt.inputs, inputs, strict=True):
        key = wallet.derive(utxo.branch, utxo.derivation_index)
        psbt_in.witness_utxo = TransactionOutput(utxo.amount_sats, Script(key.script_pubkey))
        if key.witness_script is not None:
            psbt_in.witness_script = Script(key.witness_script)
        for origin in key.keys:
            psbt_in.bip32_derivations[origin.public_key] = DerivationPath(origin.fingerprint, list(origin.path))
        raw = (previous_txs or {}).get(utxo.txid)
        if raw is not None:
            psbt_in.non_witness_utxo = Transaction.parse(bytes.fromhex(raw))
    if change_vout is not None:
        change = wallet.derive(CHANGE_BRANCH, change_index)
        assert outputs[change_vout].script_pubkey == change.script_pubkey
        out = psbt.outputs[change_vout]
        if change.witness_script is not None:
            out.witness_script = Script(change.witness_script)
        for origin in change.keys:
            out.bip32_derivations[origin.public_key] = DerivationPath(origin.fingerprint, list(origin.path))
    return psbt


def psbt_txid(psbt_b64: str) -> str:
    """Txid of a PSBT's transaction (segwit: fixed before any signature)."""
    return PSBT.from_string(psbt_b64).tx.txid().hex()
