"""The sandbox's in-memory regtest chain: blocks, UTXO set, mempool, mining and reorgs.

Transactions enter only through ``accept`` (``custody_sandbox.esplora.mempool``): they must spend
existing unspent outputs and carry valid signatures. Blocks are connected and disconnected
with undo data, as a node does, so a reorg restores exactly the UTXO set it replaces.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from embit.transaction import Transaction, TransactionOutput

from custody_sandbox.esplora.blocks import Block, block_subsidy_sats, is_coinbase, make_coinbase
from custody_sandbox.esplora.mempool import Rejected, check_transaction

Outpoint = tuple[str, int]


@dataclass(frozen=True)
class Coin:
    """An unspent output; ``height`` None while its transaction is in the mempool."""

    output: TransactionOutput
    height: int | None
    coinbase: bool


class SandboxChain:
    """Regtest-like chain state. Thread-safe: every public method holds one lock.

    Parameters:
        payout_script: script the coinbases pay (the faucet's P2WPKH).
        clock: seconds since epoch, injectable for tests.
    """

    def __init__(self, payout_script: bytes, clock=time.time) -> None:
        self.lock = threading.RLock()
        self.payout_script = payout_script
        self._clock = clock
        self.blocks: dict[str, Block] = {}
        self.best: list[str] = []
        self.utxos: dict[Outpoint, Coin] = {}
        self.spender: dict[Outpoint, tuple[str, int]] = {}
        self.tx_block: dict[str, str] = {}
        self.known_txs: dict[str, Transaction] = {}
        self.mempool: dict[str, Transaction] = {}
        self.mempool_spender: dict[Outpoint, tuple[str, int]] = {}
        self.undo: dict[str, list[tuple[Outpoint, Coin]]] = {}
        self.extra_nonce = 0

    @property
    def tip_height(self) -> int:
        return len(self.best) - 1

    @property
    def tip_hash(self) -> str:
        return self.best[-1]

    def coin(self, outpoint: Outpoint) -> Coin | None:
        """The unspent output at ``outpoint`` (confirmed or mempool), ignoring mempool spends."""
        if outpoint in self.utxos:
            return self.utxos[outpoint]
        tx = self.mempool.get(outpoint[0])
        if tx is not None and outpoint[1] < len(tx.vout):
            return Coin(tx.vout[outpoint[1]], None, False)
        return None

    def accept(self, tx: Transaction) -> str:
        """Add ``tx`` to the mempool; returns its txid. Already in the mempool is success.

        Raises:
            Rejected: with Bitcoin Core's reject code and reason.
        """
        with self.lock:
            txid = tx.txid().hex()
            if txid in self.mempool:
                return txid
            if txid in self.tx_block:
                raise Rejected(-27, "Transaction outputs already in utxo set")
            check_transaction(self, tx)
            self.mempool[txid] = tx
            self.known_txs[txid] = tx
            for n, vin in enumerate(tx.vin):
                self.mempool_spender[(vin.txid.hex(), vin.vout)] = (txid, n)
            return txid

    def mine(self, blocks: int = 1, *, include_mempool: bool = True) -> list[str]:
        """Mine ``blocks`` blocks on the tip; the first takes the whole mempool. Returns their hashes."""
        with self.lock:
            hashes = []
            for _ in range(blocks):
                txs = list(self.mempool.values()) if include_mempool else []
                hashes.append(self._connect(self._build(txs)))
            return hashes

    def reorg(self, depth: int, drop_txids: frozenset[str] = frozenset(), *, include_mempool: bool = True) -> dict:
        """Orphan the last ``depth`` blocks and mine ``depth + 1`` new ones.

        Orphaned transactions go back to the mempool, except ``drop_txids`` and whatever no
        longer validates (descendants of dropped ones); the new blocks take them unless
        ``include_mempool`` is false.

        Raises:
            ValueError: depth < 1 or reaching the genesis block.
        """
        with self.lock:
            if depth < 1 or depth > self.tip_height:
                raise ValueError(f"reorg depth must be between 1 and {self.tip_height}")
            orphaned = list(self.best[-depth:])
            returning: list[Transaction] = []
            for block_hash in reversed(orphaned):
                returning[:0] = [tx for tx in self.blocks[block_hash].txs if not is_coinbase(tx)]
                self._disconnect(block_hash)
            returning += list(self.mempool.values())
            self.mempool.clear()
            self.mempool_spender.clear()
            dropped = []
            for tx in returning:
                txid = tx.txid().hex()
                if txid in drop_txids:
                    dropped.append(txid)
                    continue
                try:
                    self.accept(tx)
                except Rejected:
                    dropped.append(txid)
            new = self.mine(depth + 1, include_mempool=include_mempool)
            return {"height": self.tip_height, "orphaned": orphaned, "new": new, "dropped": dropped}

    def genesis(self) -> None:
        """Create block 0 (idempotent)."""
        with self.lock:
            if not self.best:
                self._connect(self._build([]))

    def _build(self, txs: list[Transaction]) -> Block:
        height = len(self.best)
        fees = sum(self._fee(tx) for tx in txs)
        self.extra_nonce += 1
        coinbase = make_coinbase(height, block_subsidy_sats(height) + fees, self.payout_script, self.extra_nonce, txs)
        previous = bytes.fromhex(self.best[-1])[::-1] if self.best else b"\x00" * 32
        last_time = self.blocks[self.best[-1]].timestamp if self.best else 0
        return Block(height, previous, max(int(self._clock()), last_time + 1), [coinbase, *txs]).solve()

    def _fee(self, tx: Transaction) -> int:
        spent = sum(self.coin((vin.txid.hex(), vin.vout)).output.value for vin in tx.vin)
        return spent - sum(out.value for out in tx.vout)

    def _connect(self, block: Block) -> str:
        """Apply a block to the UTXO set, recording undo data; clears its txs from the mempool."""
        block_hash = block.hash
        undo: list[tuple[Outpoint, Coin]] = []
        for tx in block.txs:
            txid = tx.txid().hex()
            self.mempool.pop(txid, None)
            if not is_coinbase(tx):
                for n, vin in enumerate(tx.vin):
                    outpoint = (vin.txid.hex(), vin.vout)
                    undo.append((outpoint, self.utxos.pop(outpoint)))
                    self.spender[outpoint] = (txid, n)
                    self.mempool_spender.pop(outpoint, None)
            for vout, output in enumerate(tx.vout):
                if not output.script_pubkey.data.startswith(b"\x6a"):
                    self.utxos[(txid, vout)] = Coin(output, block.height, is_coinbase(tx))
            self.tx_block[txid] = block_hash
            self.known_txs[txid] = tx
        self.blocks[block_hash] = block
        self.undo[block_hash] = undo
        self.best.append(block_hash)
        return block_hash

    def _disconnect(self, block_hash: str) -> None:
        block = self.blocks[block_hash]
        for tx in reversed(block.txs):
            txid = tx.txid().hex()
            for vout in range(len(tx.vout)):
                self.utxos.pop((txid, vout), None)
            self.tx_block.pop(txid, None)
        for outpoint, coin in self.undo.pop(block_hash):
            self.utxos[outpoint] = coin
            self.spender.pop(outpoint, None)
        self.best.pop()
