"""Build an unsigned payout PSBT from custody UTXOs (BIP 174), with change on the internal chain.

The flow a withdrawal takes::

    utxos = await collect_custody_utxos(esplora, wallet, receive_indexes=..., change_indexes=...)
    rate = clamp_fee_rate((await esplora.fee_estimates()).rates_sat_vb, target_blocks=..., floor_sat_vb=..., cap_sat_vb=...)
    payout = build_payout(wallet, recipient_address=..., amount_sats=..., fee_rate_sat_vb=rate, utxos=utxos, change_index=...)
    signed = signer.sign(payout)            # chains.bitcoin.signers; store signed.tx_hex first
    await esplora.broadcast(signed.tx_hex)  # then broadcast
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
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
    tx = Transaction(
        version=2,
        vin=[TransactionInput(bytes.fromhex(u.txid), u.vout, sequence=RBF_SEQUENCE) for u in plan.inputs],
        vout=[TransactionOutput(o.amount_sats, Script(o.script_pubkey)) for o in outputs],
        locktime=0,
    )
    psbt = PSBT(tx)
    for psbt_in, utxo in zip(psbt.inputs, plan.inputs, strict=True):
        key = wallet.derive(utxo.branch, utxo.derivation_index)
        psbt_in.witness_utxo = TransactionOutput(utxo.amount_sats, Script(key.script_pubkey))
        psbt_in.bip32_derivations[key.public_key] = DerivationPath(key.fingerprint, list(key.path))
    if plan.change_sats:
        change = wallet.derive(CHANGE_BRANCH, change_index)
        psbt.outputs[1].bip32_derivations[change.public_key] = DerivationPath(change.fingerprint, list(change.path))
    return UnsignedPayout(psbt.to_string(), plan, tuple(outputs), recipient.address, change_index)
