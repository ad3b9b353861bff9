"""Chain facts (pure): an amount at an outpoint, and the depth rule."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class OutputAmount:
    """The value of output ``vout`` of transaction ``txid``, in satoshis.

    The base of every output the engine tracks (an Esplora UTXO, a spendable custody output, a
    deposit output); ``outpoint`` is its key everywhere (docs/DESIGN.md §6).
    """

    txid: str
    vout: int
    amount_sats: int

    @property
    def outpoint(self) -> str:
        """``txid:vout``."""
        return f"{self.txid}:{self.vout}"


def confirmations(tip_height: int, block_height: int | None) -> int:
    """Depth of a block on the canonical chain, in blocks; 0 if unconfirmed.

    A transaction in the tip block has 1 confirmation. A block above the tip (a tip read
    before the block was seen) counts as 0.

    Args:
        tip_height: height of the canonical tip (blocks).
        block_height: height of the block holding the transaction, None when unconfirmed.
    """
    if block_height is None or block_height > tip_height:
        return 0
    return tip_height - block_height + 1
