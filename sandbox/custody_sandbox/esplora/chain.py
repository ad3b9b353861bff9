"""The sandbox's in-memory regtest chain: blocks, UTXO set, mempool, mining and reorgs.

Transactions enter only through ``accept`` (``mempool.check_transaction``): they must spend
existing unspent outputs and carry valid scripts; a BIP 125 replacement evicts what it
replaces and their descendants. Blocks are connected and disconnected with undo data, as a
node does, so a reorg restores exactly the UTXO set it replaces. Block 0 is Bitcoin's
regtest genesis block, whose coinbase output is not spendable (not in the UTXO set, as in Core).

Mining takes the mempool in arrival order (parents before children), minus what the mining
policy holds back: txids on hold and their descendants, and transactions whose ancestor package
(with their unmined ancestors, as Bitcoin Core's block assembly scores them) pays below a fee
rate, so a child paying for a low-fee parent (CPFP) brings the parent along.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

from embit.transaction import Transaction, TransactionOutput

from custody_sandbox.esplora.blocks import Block, block_subsidy_sats, genesis_block, is_coinbase, make_coinbase
from custody_sandbox.esplora.errors import Rejected
from custody_sandbox.esplora.mempool import check_transaction

Outpoint = tuple[str, int]
MEDIAN_TIME_SPAN_BLOCKS = 11
RECENT_TXS = 10
"""``/mempool/recent`` lists the last 10 transactions to enter the mempool (electrs ``RECENT_TXS_SIZE``)."""


@dataclass(frozen=True)
class Coin:
    """An unspent output; ``height`` None while its transaction is in the mempool."""

    output: TransactionOutput
    height: int | None
    coinbase: bool


@dataclass(frozen=True)
class MempoolEntry:
    """Mempool bookkeeping of one transaction: fee in sats, vsize in vB, arrival in unix seconds."""

    fee_sats: int
    vsize: int
    time: int


@dataclass
class MiningPolicy:
    """What the sandbox's miner leaves in the mempool (``POST /sandbox/mining-policy``).

    ``min_fee_rate_sat_vb``: a transaction whose ancestor package pays less (fees / vsizes of it
    and its unmined ancestors) is not mined; ``hold_txids``: these are not mined. Descendants of
    a held transaction wait with it.
    """

    min_fee_rate_sat_vb: float = 0.0
    hold_txids: set[str] = field(default_factory=set)

    def holds(self, txids: Iterable[str], entries: Iterable[MempoolEntry]) -> bool:
        """True when the package ``txids`` (with their ``entries``) may not be mined."""
        listed = list(entries)
        fee, vsize = sum(e.fee_sats for e in listed), sum(e.vsize for e in listed)
        return any(t in self.hold_txids for t in txids) or fee < self.min_fee_rate_sat_vb * vsize


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
        self.mempool_meta: dict[str, MempoolEntry] = {}
        self.mempool_spender: dict[Outpoint, tuple[str, int]] = {}
        self.undo: dict[str, list[tuple[Outpoint, Coin]]] = {}
        self.extra_nonce = 0
        self.mining_policy = MiningPolicy()
        self.recent: deque[dict] = deque(maxlen=RECENT_TXS)

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

    def median_time_past(self, block_hash: str) -> int:
        """Median timestamp of the block and its 10 predecessors (BIP 113), unix seconds."""
        times, current = [], self.blocks.get(block_hash)
        while current is not None and len(times) < MEDIAN_TIME_SPAN_BLOCKS:
            times.append(current.timestamp)
            current = self.blocks.get(current.previous_hash_hex) if current.height else None
        times.sort()
        return times[len(times) // 2]

    # ---- mempool graph ------------------------------------------------------------------
    def mempool_fee(self, txid: str) -> int:
        return self.mempool_meta[txid].fee_sats

    def mempool_vsize(self, txid: str) -> int:
        return self.mempool_meta[txid].vsize

    def mempool_ancestors(self, tx: Transaction) -> set[str]:
        """Mempool transactions ``tx`` depends on, directly or not."""
        found: set[str] = set()
        stack = [vin.txid.hex() for vin in tx.vin]
        while stack:
            txid = stack.pop()
            if txid in self.mempool and txid not in found:
                found.add(txid)
                stack.extend(vin.txid.hex() for vin in self.mempool[txid].vin)
        return found

    def mempool_descendants(self, txids: Iterable[str]) -> set[str]:
        """``txids`` and every mempool transaction spending their outputs, transitively."""
        found: set[str] = set()
        stack = list(txids)
        while stack:
            txid = stack.pop()
            if txid in found or txid not in self.mempool:
                continue
            found.add(txid)
            for vout in range(len(self.mempool[txid].vout)):
                child = self.mempool_spender.get((txid, vout))
                if child:
                    stack.append(child[0])
        return found

    def accept(self, tx: Transaction) -> str:
        """Add ``tx`` to the mempool, evicting what it replaces; returns its txid.

        Already in the mempool is success (as ``sendrawtransaction``).

        Raises:
            Rejected: with Bitcoin Core's reject code and reason.
        """
        with self.lock:
            txid = tx.txid().hex()
            if txid in self.mempool:
                return txid
            if txid in self.tx_block:
                raise Rejected(-27, "Transaction outputs already in utxo set")
            admission = check_transaction(self, tx)
            for replaced in admission.replaced:
                self._evict(replaced)
            self.mempool[txid] = tx
            self.mempool_meta[txid] = MempoolEntry(admission.fee_sats, admission.vsize, int(self._clock()))
            self.known_txs[txid] = tx
            for n, vin in enumerate(tx.vin):
                self.mempool_spender[(vin.txid.hex(), vin.vout)] = (txid, n)
            value_in = admission.fee_sats + sum(o.value for o in tx.vout)
            self.recent.appendleft({"txid": txid, "fee": admission.fee_sats, "vsize": admission.weight // 4, "value": value_in})
            return txid

    def _evict(self, txid: str) -> None:
        tx = self.mempool.pop(txid)
        self.mempool_meta.pop(txid, None)
        for vin in tx.vin:
            outpoint = (vin.txid.hex(), vin.vout)
            if self.mempool_spender.get(outpoint, (None,))[0] == txid:
                del self.mempool_spender[outpoint]

    # ---- mining -------------------------------------------------------------------------
    def minable(self) -> list[Transaction]:
        """Mempool transactions the next block takes under the mining policy, in arrival order
        (parents first). Each is judged with its unmined ancestors (its package), as Core does."""
        taken: set[str] = set()
        progress = True
        while progress:
            progress = False
            for txid, tx in self.mempool.items():
                if txid in taken:
                    continue
                package = {txid} | (self.mempool_ancestors(tx) - taken)
                if self.mining_policy.holds(package, (self.mempool_meta[t] for t in package)):
                    continue
                taken |= package
                progress = True
        return [tx for txid, tx in self.mempool.items() if txid in taken]

    def mine(self, blocks: int = 1, *, include_mempool: bool = True) -> list[str]:
        """Mine ``blocks`` blocks on the tip, each taking what the policy lets it. Returns their hashes."""
        with self.lock:
            hashes = []
            for _ in range(blocks):
                txs = self.minable() if include_mempool else []
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
            self.mempool_meta.clear()
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
        """Connect Bitcoin's regtest genesis block as block 0 (idempotent)."""
        with self.lock:
            if not self.best:
                self._connect(genesis_block())

    def _build(self, txs: list[Transaction]) -> Block:
        height = len(self.best)
        fees = sum(self.mempool_meta[tx.txid().hex()].fee_sats for tx in txs)
        self.extra_nonce += 1
        coinbase = make_coinbase(height, block_subsidy_sats(height) + fees, self.payout_script, self.extra_nonce, txs)
        previous = bytes.fromhex(self.best[-1])[::-1]
        earliest = self.median_time_past(self.best[-1]) + 1
        last_time = self.blocks[self.best[-1]].timestamp
        return Block(height, previous, max(int(self._clock()), last_time + 1, earliest), [coinbase, *txs]).solve()

    def _connect(self, block: Block) -> str:
        """Apply a block to the UTXO set, recording undo data; clears its txs from the mempool."""
        block_hash = block.hash
        undo: list[tuple[Outpoint, Coin]] = []
        for tx in block.txs:
            txid = tx.txid().hex()
            self.mempool.pop(txid, None)
            self.mempool_meta.pop(txid, None)
            if not is_coinbase(tx):
                for n, vin in enumerate(tx.vin):
                    outpoint = (vin.txid.hex(), vin.vout)
                    undo.append((outpoint, self.utxos.pop(outpoint)))
                    self.spender[outpoint] = (txid, n)
                    self.mempool_spender.pop(outpoint, None)
            if block.height > 0:  # the genesis coinbase is not spendable (Core never adds it)
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
