"""Transaction weight and virtual size of a serialized embit transaction (BIP 141)."""

from __future__ import annotations

from embit.transaction import Transaction, TransactionInput


def stripped_size(tx: Transaction) -> int:
    """Size in bytes without witness data (marker, flag and witnesses)."""
    bare = [TransactionInput(i.txid, i.vout, i.script_sig, i.sequence) for i in tx.vin]
    return len(Transaction(version=tx.version, vin=bare, vout=tx.vout, locktime=tx.locktime).serialize())


def tx_weight(tx: Transaction) -> int:
    """Weight in WU: 3 x stripped size + total size."""
    return 3 * stripped_size(tx) + len(tx.serialize())


def tx_vsize(tx: Transaction) -> int:
    """Virtual size in vB: weight / 4 rounded up."""
    return -(-tx_weight(tx) // 4)
