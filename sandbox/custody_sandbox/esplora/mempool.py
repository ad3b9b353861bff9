"""Mempool acceptance rules of the sandbox (a subset of Bitcoin Core's, same reject reasons).

Checked, in order: structure, inputs exist and are unspent (confirmed or mempool), no
conflict with the mempool, coinbase maturity (100 blocks), value balance, dust outputs,
minimum relay fee (1 sat/vB) and, last, every input's signature
(``chains.bitcoin.script_verify``: P2WPKH per BIP 143, P2TR key path per BIP 341).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from embit.transaction import Transaction

from chains.bitcoin.script_verify import InvalidSpend, verify_transaction
from chains.bitcoin.tx_weight import tx_weight
from custody_sandbox.esplora.blocks import COIN_SATS, COINBASE_MATURITY_BLOCKS, is_coinbase
from domain.bitcoin_address import script_type_of
from domain.bitcoin_payout import DUST_THRESHOLD_SATS

if TYPE_CHECKING:
    from custody_sandbox.esplora.chain import SandboxChain

MAX_MONEY_SATS = 21_000_000 * COIN_SATS
MIN_RELAY_FEE_SAT_VB = 1


class Rejected(Exception):
    """A transaction refused by the sandbox node; ``code`` and ``reason`` as Bitcoin Core RPC gives them."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason

    def esplora_text(self) -> str:
        """Esplora's error body for POST /tx."""
        return "sendrawtransaction RPC error: " + json.dumps({"code": self.code, "message": self.reason})


def check_transaction(chain: SandboxChain, tx: Transaction) -> None:
    """Raise Rejected unless ``tx`` may enter the mempool of ``chain`` (caller holds the lock)."""
    if not tx.vin:
        raise Rejected(-26, "bad-txns-vin-empty")
    if not tx.vout:
        raise Rejected(-26, "bad-txns-vout-empty")
    if is_coinbase(tx):
        raise Rejected(-26, "coinbase")
    outpoints = [(vin.txid.hex(), vin.vout) for vin in tx.vin]
    if len(set(outpoints)) != len(outpoints):
        raise Rejected(-26, "bad-txns-inputs-duplicate")
    prevouts = []
    for outpoint in outpoints:
        if outpoint in chain.mempool_spender:
            raise Rejected(-26, "txn-mempool-conflict")
        coin = chain.coin(outpoint)
        if coin is None:
            raise Rejected(-25, "bad-txns-inputs-missingorspent")
        if coin.coinbase and chain.tip_height + 1 - coin.height < COINBASE_MATURITY_BLOCKS:
            raise Rejected(-26, "bad-txns-premature-spend-of-coinbase")
        prevouts.append(coin.output)
    total_out = 0
    for output in tx.vout:
        if output.value < 0 or output.value > MAX_MONEY_SATS:
            raise Rejected(-26, "bad-txns-vout-toolarge")
        total_out += output.value
        kind = script_type_of(output.script_pubkey.data)
        if kind is not None and output.value < DUST_THRESHOLD_SATS[kind]:
            raise Rejected(-26, "dust")
    fee = sum(p.value for p in prevouts) - total_out
    if fee < 0:
        raise Rejected(-26, "bad-txns-in-belowout")
    vsize = -(-tx_weight(tx) // 4)
    if fee < MIN_RELAY_FEE_SAT_VB * vsize:
        raise Rejected(-26, f"min relay fee not met, {fee} < {MIN_RELAY_FEE_SAT_VB * vsize}")
    try:
        verify_transaction(tx, prevouts)
    except InvalidSpend as exc:
        raise Rejected(-26, f"mandatory-script-verify-flag-failed ({exc})") from exc
