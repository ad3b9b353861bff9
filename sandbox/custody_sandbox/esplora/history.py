"""Per-script history, statistics and UTXOs (``/address/:address/…`` and ``/scripthash/:hash/…``),
and the mempool's summaries (``/mempool``, ``/mempool/recent``), as electrs computes them.

* history: confirmed transactions newest first (by height, then reverse block order), 25 per
  page; ``last_seen`` continues after that txid (an unknown one gives an empty page); mempool
  transactions newest first, at most 50; ``/txs`` is the mempool part then the first chain page.
* stats: ``funded_txo_count/sum``, ``spent_txo_count/sum`` and ``tx_count``, once for the
  chain and once for the mempool (a mempool spend of a confirmed output counts in the mempool).
* ``/mempool``: ``count``, ``vsize`` (sum of weight/4, rounded down), ``total_fee`` and the
  ``fee_histogram`` of ``[fee rate sat/vB, vsize]`` bins of just over 50,000 vB, highest rate first.

The ``:hash`` of ``/scripthash/:hash`` is the sha256 of the output script in natural byte order
(electrs' ``compute_script_hash``; rust-esplora-client formats it the same way). Source: electrs
``rest.rs`` (CHAIN_TXS_PER_PAGE 25, MAX_MEMPOOL_TXS 50), ``new_index/mempool.rs``,
``util/fees.rs`` (VSIZE_BIN_WIDTH 50,000).
"""

from __future__ import annotations

import hashlib
from typing import Any

from embit.transaction import Transaction

from custody_sandbox.esplora.blocks import is_coinbase
from custody_sandbox.esplora.chain import SandboxChain
from custody_sandbox.esplora.views import status_json
from custody_sandbox.esplora.weight import tx_weight

CHAIN_TXS_PER_PAGE = 25
MAX_MEMPOOL_TXS = 50
VSIZE_BIN_WIDTH = 50_000


def scripthash(script: bytes) -> str:
    """electrs' script hash of an output script: sha256, hex (as ``/scripthash/:hash`` takes it)."""
    return hashlib.sha256(script).digest().hex()


def _touches(chain: SandboxChain, tx: Transaction, script: bytes) -> bool:
    if any(o.script_pubkey.data == script for o in tx.vout):
        return True
    return not is_coinbase(tx) and any(
        chain.known_txs[i.txid.hex()].vout[i.vout].script_pubkey.data == script for i in tx.vin
    )


def chain_history(chain: SandboxChain, script: bytes) -> list[Transaction]:
    """Every canonical-chain transaction touching ``script``, newest first."""
    found = []
    for block_hash in reversed(chain.best):
        found += [tx for tx in reversed(chain.blocks[block_hash].txs) if _touches(chain, tx, script)]
    return found


def chain_page(chain: SandboxChain, script: bytes, last_seen: str | None) -> list[Transaction]:
    """One page (25) of confirmed history, after ``last_seen`` when given."""
    history = chain_history(chain, script)
    if last_seen is not None:
        txids = [tx.txid().hex() for tx in history]
        history = history[txids.index(last_seen) + 1 :] if last_seen in txids else []
    return history[:CHAIN_TXS_PER_PAGE]


def mempool_history(chain: SandboxChain, script: bytes) -> list[Transaction]:
    """Mempool transactions touching ``script``, newest first, at most 50."""
    return [tx for tx in reversed(list(chain.mempool.values())) if _touches(chain, tx, script)][:MAX_MEMPOOL_TXS]


def _stats(chain: SandboxChain, script: bytes, txs: list[Transaction]) -> dict[str, int]:
    funded = spent = 0
    funded_sum = spent_sum = 0
    for tx in txs:
        for output in tx.vout:
            if output.script_pubkey.data == script:
                funded += 1
                funded_sum += output.value
        if not is_coinbase(tx):
            for inp in tx.vin:
                prev = chain.known_txs[inp.txid.hex()].vout[inp.vout]
                if prev.script_pubkey.data == script:
                    spent += 1
                    spent_sum += prev.value
    return {
        "funded_txo_count": funded, "funded_txo_sum": funded_sum,
        "spent_txo_count": spent, "spent_txo_sum": spent_sum, "tx_count": len(txs),
    }


def stats_json(chain: SandboxChain, script: bytes) -> dict[str, dict[str, int]]:
    """``chain_stats`` and ``mempool_stats`` of ``script``."""
    mempool = [tx for tx in chain.mempool.values() if _touches(chain, tx, script)]
    return {"chain_stats": _stats(chain, script, chain_history(chain, script)), "mempool_stats": _stats(chain, script, mempool)}


def utxos_json(chain: SandboxChain, script: bytes) -> list[dict[str, Any]]:
    """Unspent outputs paying ``script``: confirmed and mempool, minus those spent in the mempool."""
    found = []
    for (txid, vout), coin in chain.utxos.items():
        if coin.output.script_pubkey.data == script and (txid, vout) not in chain.mempool_spender:
            found.append({"txid": txid, "vout": vout, "status": status_json(chain, txid), "value": coin.output.value})
    for txid, tx in chain.mempool.items():
        for vout, output in enumerate(tx.vout):
            if output.script_pubkey.data == script and (txid, vout) not in chain.mempool_spender:
                found.append({"txid": txid, "vout": vout, "status": {"confirmed": False}, "value": output.value})
    return found


def backlog_json(chain: SandboxChain) -> dict[str, Any]:
    """``BacklogStats`` of the mempool."""
    entries = []
    for txid, tx in chain.mempool.items():
        vsize = tx_weight(tx) // 4
        fee = chain.mempool_meta[txid].fee_sats
        entries.append((fee / vsize if vsize else 0.0, vsize, fee))
    entries.sort(key=lambda e: e[0])
    histogram, bin_size, last_rate = [], 0, 0.0
    for rate, vsize, _fee in reversed(entries):
        if bin_size > VSIZE_BIN_WIDTH and last_rate != rate:
            histogram.append([last_rate, bin_size])
            bin_size = 0
        last_rate = rate
        bin_size += vsize
    if bin_size > 0:
        histogram.append([last_rate, bin_size])
    return {
        "count": len(entries),
        "vsize": sum(e[1] for e in entries),
        "total_fee": sum(e[2] for e in entries),
        "fee_histogram": histogram,
    }
