"""Transaction size, weight and virtual size (BIP 141), for embit transactions.

Weight in weight units = 3 x stripped size + total size; vsize in vB = weight / 4 rounded up.
"""

from __future__ import annotations

from embit.transaction import Transaction, TransactionInput


def stripped_size(tx: Transaction) -> int:
    """Size in bytes without the witness (no marker, flag or witness stacks)."""
    bare = [TransactionInput(i.txid, i.vout, i.script_sig, i.sequence) for i in tx.vin]
    return len(Transaction(version=tx.version, vin=bare, vout=tx.vout, locktime=tx.locktime).serialize())


def tx_weight(tx: Transaction) -> int:
    """Weight in WU."""
    return 3 * stripped_size(tx) + len(tx.serialize())


def tx_vsize(tx: Transaction) -> int:
    """Virtual size in vB."""
    return -(-tx_weight(tx) // 4)
