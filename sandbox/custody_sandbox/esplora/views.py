"""Esplora JSON shapes of sandbox chain objects (transactions, statuses, blocks, UTXOs).

Field names follow Blockstream's esplora REST API; values in satoshis, times in Unix seconds.
"""

from __future__ import annotations

from typing import Any

from embit.transaction import Transaction, TransactionOutput

from chains.bitcoin.tx_weight import tx_weight
from custody_sandbox.esplora.blocks import is_coinbase
from custody_sandbox.esplora.chain import SandboxChain
from domain.bitcoin_address import Network, script_pubkey_address, script_type_of

_ESPLORA_TYPES = {"p2pkh": "p2pkh", "p2sh": "p2sh", "p2wpkh": "v0_p2wpkh", "p2wsh": "v0_p2wsh", "p2tr": "v1_p2tr"}


def output_json(output: TransactionOutput) -> dict[str, Any]:
    data = output.script_pubkey.data
    kind = script_type_of(data)
    body: dict[str, Any] = {
        "scriptpubkey": data.hex(),
        "scriptpubkey_asm": "",
        "scriptpubkey_type": _ESPLORA_TYPES[kind] if kind else ("op_return" if data[:1] == b"\x6a" else "unknown"),
        "value": output.value,
    }
    if kind:
        body["scriptpubkey_address"] = script_pubkey_address(data, Network.REGTEST)
    return body


def status_json(chain: SandboxChain, txid: str) -> dict[str, Any]:
    block_hash = chain.tx_block.get(txid)
    if block_hash is None:
        return {"confirmed": False}
    block = chain.blocks[block_hash]
    return {"confirmed": True, "block_height": block.height, "block_hash": block_hash, "block_time": block.timestamp}


def tx_json(chain: SandboxChain, tx: Transaction) -> dict[str, Any]:
    txid = tx.txid().hex()
    coinbase = is_coinbase(tx)
    vin = []
    spent_total = 0
    for inp in tx.vin:
        entry: dict[str, Any] = {
            "txid": inp.txid.hex(),
            "vout": inp.vout,
            "scriptsig": inp.script_sig.data.hex(),
            "scriptsig_asm": "",
            "witness": [item.hex() for item in inp.witness.items],
            "is_coinbase": coinbase,
            "sequence": inp.sequence,
            "prevout": None,
        }
        if not coinbase:
            prev = chain.known_txs[inp.txid.hex()].vout[inp.vout]
            entry["prevout"] = output_json(prev)
            spent_total += prev.value
        vin.append(entry)
    weight = tx_weight(tx)
    return {
        "txid": txid,
        "version": tx.version,
        "locktime": tx.locktime,
        "vin": vin,
        "vout": [output_json(o) for o in tx.vout],
        "size": len(tx.serialize()),
        "weight": weight,
        "fee": 0 if coinbase else spent_total - sum(o.value for o in tx.vout),
        "status": status_json(chain, txid),
    }


def block_json(chain: SandboxChain, block_hash: str) -> dict[str, Any]:
    block = chain.blocks[block_hash]
    return {
        "id": block_hash,
        "height": block.height,
        "version": int.from_bytes(block.header[:4], "little"),
        "timestamp": block.timestamp,
        "mediantime": block.timestamp,
        "tx_count": len(block.txs),
        "size": block.size(),
        "weight": block.weight(),
        "merkle_root": block.merkle_root_hex,
        "previousblockhash": block.previous_hash_hex if block.height else None,
        "nonce": block.nonce,
        "bits": int.from_bytes(block.header[72:76], "little"),
        "difficulty": 0,
    }


def find_tx(chain: SandboxChain, txid: str) -> Transaction | None:
    """A transaction in the mempool or on the canonical chain (orphaned ones are gone)."""
    if txid in chain.mempool or txid in chain.tx_block:
        return chain.known_txs[txid]
    return None


def address_txs(chain: SandboxChain, script: bytes) -> list[Transaction]:
    """Mempool transactions (newest first), then up to 25 confirmed (newest first), touching ``script``."""
    def touches(tx: Transaction) -> bool:
        if any(o.script_pubkey.data == script for o in tx.vout):
            return True
        return not is_coinbase(tx) and any(
            chain.known_txs[i.txid.hex()].vout[i.vout].script_pubkey.data == script for i in tx.vin
        )

    found = [tx for tx in reversed(list(chain.mempool.values())) if touches(tx)]
    confirmed = 0
    for block_hash in reversed(chain.best):
        for tx in reversed(chain.blocks[block_hash].txs):
            if confirmed < 25 and touches(tx):
                found.append(tx)
                confirmed += 1
    return found


def address_utxos(chain: SandboxChain, script: bytes) -> list[dict[str, Any]]:
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


def outspend_json(chain: SandboxChain, txid: str, vout: int) -> dict[str, Any]:
    spender = chain.spender.get((txid, vout)) or chain.mempool_spender.get((txid, vout))
    if spender is None:
        return {"spent": False}
    return {"spent": True, "txid": spender[0], "vin": spender[1], "status": status_json(chain, spender[0])}
