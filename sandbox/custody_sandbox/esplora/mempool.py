"""Mempool acceptance of the sandbox node: Bitcoin Core 27.x's checks, in Core's order, with its
reject codes and reasons (``MemPoolAccept::PreChecks``, ``ReplacementChecks``,
``PolicyScriptChecks``).

1. structure (``CheckTransaction``): inputs and outputs present, output values in range,
   no duplicate inputs, not a coinbase;
2. standardness (``policy.check_standard``) and finality (``non-final``: nLockTime against
   the next block's height or the tip's median time past, BIP 113);
3. conflicts with the mempool: replaceable only under BIP 125 (``rbf``);
4. inputs exist and are unspent (confirmed or in the mempool), coinbase maturity (100
   blocks), value balance, input and witness standardness, at most 25 unconfirmed
   ancestors, minimum relay fee 1 sat/vB;
5. replacement rules; 6. scripts and signatures (``consensus``: libbitcoinkernel), the
   failure named by ``script_errors``: ``mandatory-script-verify-flag-failed (<error>)``.

Not modelled: BIP 68 relative lock-times, sigop limits, package relay, TRUC (v3) rules,
the descendant-size limits, and the mempool size limit (``mempool min fee not met``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from embit.transaction import Transaction

from custody_sandbox.esplora import consensus, policy, rbf
from custody_sandbox.esplora.blocks import COIN_SATS, COINBASE_MATURITY_BLOCKS, is_coinbase
from custody_sandbox.esplora.errors import Rejected
from custody_sandbox.esplora.script_errors import diagnose
from custody_sandbox.esplora.weight import tx_weight

if TYPE_CHECKING:
    from custody_sandbox.esplora.chain import SandboxChain

MAX_MONEY_SATS = 21_000_000 * COIN_SATS
MIN_RELAY_FEE_SAT_VB = 1
MAX_ANCESTORS = 25
LOCKTIME_THRESHOLD = 500_000_000
SEQUENCE_FINAL = 0xFFFFFFFF

__all__ = ["Admission", "Rejected", "check_transaction"]


@dataclass(frozen=True)
class Admission:
    """What accepting a transaction means: its fee (sats), vsize (vB), weight (WU) and the txids it evicts."""

    fee_sats: int
    vsize: int
    weight: int
    replaced: frozenset[str]


def check_structure(tx: Transaction) -> None:
    """``CheckTransaction`` (context-free consensus checks)."""
    if not tx.vin:
        raise Rejected(-26, "bad-txns-vin-empty")
    if not tx.vout:
        raise Rejected(-26, "bad-txns-vout-empty")
    total = 0
    for output in tx.vout:
        if output.value < 0:
            raise Rejected(-26, "bad-txns-vout-negative")
        if output.value > MAX_MONEY_SATS:
            raise Rejected(-26, "bad-txns-vout-toolarge")
        total += output.value
        if total > MAX_MONEY_SATS:
            raise Rejected(-26, "bad-txns-txouttotal-toolarge")
    outpoints = [(vin.txid, vin.vout) for vin in tx.vin]
    if len(set(outpoints)) != len(outpoints):
        raise Rejected(-26, "bad-txns-inputs-duplicate")
    if is_coinbase(tx):
        raise Rejected(-26, "coinbase")
    if any(vin.txid == b"\x00" * 32 and vin.vout == 0xFFFFFFFF for vin in tx.vin):
        raise Rejected(-26, "bad-txns-prevout-null")


def is_final(tx: Transaction, next_height: int, median_time_past: int) -> bool:
    """``IsFinalTx`` for the next block (BIP 113: time locks compare with median time past)."""
    if tx.locktime == 0:
        return True
    limit = next_height if tx.locktime < LOCKTIME_THRESHOLD else median_time_past
    return tx.locktime < limit or all(vin.sequence == SEQUENCE_FINAL for vin in tx.vin)


def check_transaction(chain: SandboxChain, tx: Transaction) -> Admission:
    """Raise Rejected unless ``tx`` may enter the mempool of ``chain`` (caller holds the lock)."""
    txid = tx.txid().hex()
    check_structure(tx)
    policy.check_standard(tx)
    if not is_final(tx, chain.tip_height + 1, chain.median_time_past(chain.tip_hash)):
        raise Rejected(-26, "non-final")
    conflicts = {chain.mempool_spender[(v.txid.hex(), v.vout)][0] for v in tx.vin if (v.txid.hex(), v.vout) in chain.mempool_spender}
    for conflict in sorted(conflicts):
        if not rbf.signals_rbf(chain.mempool[conflict]):
            raise Rejected(-26, "txn-mempool-conflict")
    prevouts = []
    for vin in tx.vin:
        coin = chain.coin((vin.txid.hex(), vin.vout))
        if coin is None:
            raise Rejected(-25, "bad-txns-inputs-missingorspent")
        if coin.coinbase and chain.tip_height + 1 - coin.height < COINBASE_MATURITY_BLOCKS:
            depth = chain.tip_height + 1 - coin.height
            raise Rejected(-26, f"bad-txns-premature-spend-of-coinbase, tried to spend coinbase at depth {depth}")
        prevouts.append(coin.output)
    value_in = sum(p.value for p in prevouts)
    value_out = sum(o.value for o in tx.vout)
    if value_in < value_out:
        raise Rejected(-26, f"bad-txns-in-belowout, value in ({rbf.format_money(value_in)}) < value out ({rbf.format_money(value_out)})")
    policy.check_inputs_standard(tx, prevouts)
    fee, weight = value_in - value_out, tx_weight(tx)
    vsize = -(-weight // 4)
    ancestors = chain.mempool_ancestors(tx)
    if len(ancestors) + 1 > MAX_ANCESTORS:
        raise Rejected(-26, f"too-long-mempool-chain, too many unconfirmed ancestors [limit: {MAX_ANCESTORS}]")
    if fee < MIN_RELAY_FEE_SAT_VB * vsize:
        raise Rejected(-26, f"min relay fee not met, {fee} < {MIN_RELAY_FEE_SAT_VB * vsize}")
    replaced: set[str] = set()
    if conflicts:
        replaced = rbf.check_replacement(
            txid, tx, fee, vsize, conflicts,
            mempool=chain.mempool, fee_of=chain.mempool_fee, vsize_of=chain.mempool_vsize,
            descendants_of=chain.mempool_descendants, ancestors=ancestors,
        )
    failing = consensus.failing_input(tx, prevouts)
    if failing is not None:
        raise Rejected(-26, f"mandatory-script-verify-flag-failed ({diagnose(tx, failing, prevouts)})")
    return Admission(fee, vsize, weight, frozenset(replaced))
