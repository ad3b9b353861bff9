"""Deposit verification: does transaction ``txid`` pay the user's deposit address what they claim?

Called by the deposit workflow's activity, first to admit a deposit and then on every poll
while it waits for confirmations. Deposits are keyed by outpoint (docs/DESIGN.md §6): the result lists
every output of the transaction that pays the address. Depth counts on the canonical chain only.
"""

from __future__ import annotations

from dataclasses import dataclass

from chains.bitcoin.errors import TxNotFound
from chains.bitcoin.esplora import EsploraClient
from domain.bitcoin_address import Network, parse_address
from domain.bitcoin_chain import OutputAmount, confirmations
from domain.deposit_watch import DepositOutcome as DepositOutcome


@dataclass(frozen=True)
class DepositVerification:
    """Result of ``verify_deposit``. Block fields are None unless the tx is in a canonical block;
    ``outputs`` are the outputs paying the deposit address."""

    outcome: DepositOutcome
    txid: str
    outputs: tuple[OutputAmount, ...] = ()
    amount_sats: int = 0
    confirmations: int = 0
    block_height: int | None = None
    block_hash: str | None = None
    detail: str = ""


async def verify_deposit(
    esplora: EsploraClient,
    *,
    txid: str,
    claimed_amount_sats: int,
    deposit_address: str,
    network: Network | str,
    expected_block_hash: str | None = None,
    seen_before: bool = False,
) -> DepositVerification:
    """Check a claimed deposit against the canonical chain.

    Args:
        txid: the deposit transaction id (hex).
        claimed_amount_sats: what the user says they sent (sats), summed over outputs to the address.
        deposit_address: the user's deposit address (validated for ``network``).
        expected_block_hash: the block it was last seen in; a different block (or none) is a reorg.
        seen_before: the tx was seen earlier (mempool); vanishing then is a reorg, not "not found".

    Returns:
        DepositVerification; the outcome decides, in this order: not found / reorged out (vanished),
        no output to address, reorged out (block changed), amount mismatch, unconfirmed, confirmed.

    Raises:
        AddressError: ``deposit_address`` invalid for ``network``.
        ChainUnavailable, ChainResponseError: the chain source failed (retry later).
    """
    script_hex = parse_address(deposit_address, network).script_pubkey.hex()
    try:
        tx = await esplora.transaction(txid)
    except TxNotFound:
        if expected_block_hash or seen_before:
            return DepositVerification(DepositOutcome.REORGED_OUT, txid, detail="transaction vanished from the chain")
        return DepositVerification(DepositOutcome.NOT_FOUND, txid, detail="unknown txid")
    outputs = tuple(
        OutputAmount(txid, o.vout, o.amount_sats) for o in tx.outputs if o.script_pubkey == script_hex
    )
    if not outputs:
        return DepositVerification(DepositOutcome.NO_OUTPUT_TO_ADDRESS, txid, detail="no output pays the deposit address")
    amount = sum(o.amount_sats for o in outputs)
    status = tx.status
    depth = confirmations(await esplora.tip_height(), status.block_height) if status.confirmed else 0
    found = DepositVerification(
        DepositOutcome.CONFIRMED, txid, outputs, amount, depth, status.block_height, status.block_hash
    )
    if expected_block_hash and status.block_hash != expected_block_hash:
        where = f"block {status.block_hash}" if status.confirmed else "the mempool"
        return _with(found, DepositOutcome.REORGED_OUT, f"block {expected_block_hash} orphaned; tx now in {where}")
    if amount != claimed_amount_sats:
        return _with(found, DepositOutcome.AMOUNT_MISMATCH, f"pays {amount} sats, {claimed_amount_sats} claimed")
    if not status.confirmed:
        return _with(found, DepositOutcome.UNCONFIRMED, "in the mempool")
    return found


def _with(result: DepositVerification, outcome: DepositOutcome, detail: str) -> DepositVerification:
    return DepositVerification(
        outcome, result.txid, result.outputs, result.amount_sats, result.confirmations,
        result.block_height, result.block_hash, detail,
    )
