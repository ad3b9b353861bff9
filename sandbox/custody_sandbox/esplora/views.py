"""Esplora JSON shapes of sandbox chain objects: transactions, statuses, blocks, outspends, UTXOs.

Field names, presence rules and value types follow Blockstream's electrs (``rest.rs``:
``TransactionValue``, ``TxInValue``, ``TxOutValue``, ``BlockValue``, ``SpendingValue``,
``UtxoValue``; ``util``: ``TransactionStatus``, ``BlockStatus``): ``witness`` only when the
input has one, ``inner_redeemscript_asm`` for P2SH spends and ``inner_witnessscript_asm`` for
P2WSH (also P2SH-wrapped) spends, ``scriptpubkey_address`` only for outputs with an address,
``difficulty`` a float (current electrs), ``previousblockhash`` null for block 0.
Values in satoshis, times in unix seconds, sizes in bytes, weight in WU.
"""

from __future__ import annotations

from typing import Any

from embit.transaction import Transaction, TransactionOutput

from custody_sandbox.esplora.blocks import difficulty, is_coinbase
from custody_sandbox.esplora.chain import SandboxChain
from custody_sandbox.esplora.script_asm import pushes, script_asm
from custody_sandbox.esplora.scripts import address_of, esplora_type, solve
from custody_sandbox.esplora.weight import tx_weight


def output_json(output: TransactionOutput) -> dict[str, Any]:
    data = output.script_pubkey.data
    body: dict[str, Any] = {
        "scriptpubkey": data.hex(),
        "scriptpubkey_asm": script_asm(data),
        "scriptpubkey_type": esplora_type(data),
    }
    address = address_of(data)
    if address is not None:
        body["scriptpubkey_address"] = address
    body["value"] = output.value
    return body


def status_json(chain: SandboxChain, txid: str) -> dict[str, Any]:
    """``TransactionStatus``: ``{"confirmed": false}`` unless on the canonical chain."""
    block_hash = chain.tx_block.get(txid)
    if block_hash is None:
        return {"confirmed": False}
    block = chain.blocks[block_hash]
    return {"confirmed": True, "block_height": block.height, "block_hash": block_hash, "block_time": block.timestamp}


def _input_json(chain: SandboxChain, inp, coinbase: bool) -> dict[str, Any]:
    prev = None if coinbase else chain.known_txs[inp.txid.hex()].vout[inp.vout]
    script_sig = inp.script_sig.data
    witness = list(inp.witness.items) if inp.witness else []
    entry: dict[str, Any] = {
        "txid": inp.txid.hex(),
        "vout": inp.vout,
        "prevout": None if prev is None else output_json(prev),
        "scriptsig": script_sig.hex(),
        "scriptsig_asm": script_asm(script_sig),
    }
    if witness:
        entry["witness"] = [item.hex() for item in witness]
    entry["is_coinbase"] = coinbase
    entry["sequence"] = inp.sequence
    if prev is not None:
        redeem = None
        if solve(prev.script_pubkey.data) == "scripthash":
            stack = pushes(script_sig)
            redeem = stack[-1] if stack else None
            if redeem is not None:
                entry["inner_redeemscript_asm"] = script_asm(redeem)
        wrapped = redeem is not None and solve(redeem) == "witness_v0_scripthash"
        if witness and (solve(prev.script_pubkey.data) == "witness_v0_scripthash" or wrapped):
            entry["inner_witnessscript_asm"] = script_asm(witness[-1])
    return entry


def tx_json(chain: SandboxChain, tx: Transaction, *, block_hash: str | None = None) -> dict[str, Any]:
    """``TransactionValue``; ``block_hash`` forces the status of a (possibly stale) block's tx."""
    txid = tx.txid().hex()
    coinbase = is_coinbase(tx)
    vin = [_input_json(chain, inp, coinbase) for inp in tx.vin]
    spent_total = sum(entry["prevout"]["value"] for entry in vin if entry["prevout"])
    status = status_json(chain, txid)
    if block_hash is not None and status.get("block_hash") != block_hash:
        status = {"confirmed": False}  # a stale block's transaction (electrs: no confirming block id)
    return {
        "txid": txid,
        "version": tx.version,
        "locktime": tx.locktime,
        "vin": vin,
        "vout": [output_json(o) for o in tx.vout],
        "size": len(tx.serialize()),
        "weight": tx_weight(tx),
        "fee": 0 if coinbase else spent_total - sum(o.value for o in tx.vout),
        "status": status,
    }


def block_json(chain: SandboxChain, block_hash: str) -> dict[str, Any]:
    """``BlockValue``."""
    block = chain.blocks[block_hash]
    bits = int.from_bytes(block.header[72:76], "little")
    return {
        "id": block_hash,
        "height": block.height,
        "version": int.from_bytes(block.header[:4], "little"),
        "timestamp": block.timestamp,
        "tx_count": len(block.txs),
        "size": block.size(),
        "weight": block.weight(),
        "merkle_root": block.merkle_root_hex,
        "previousblockhash": block.previous_hash_hex if block.height else None,
        "mediantime": chain.median_time_past(block_hash),
        "nonce": block.nonce,
        "bits": bits,
        "difficulty": difficulty(bits),
    }


def block_status_json(chain: SandboxChain, block_hash: str) -> dict[str, Any]:
    """``BlockStatus``: height and next best block on the canonical chain, nulls when orphaned."""
    height = chain.blocks[block_hash].height
    if height > chain.tip_height or chain.best[height] != block_hash:
        return {"in_best_chain": False, "height": None, "next_best": None}
    following = chain.best[height + 1] if height < chain.tip_height else None
    return {"in_best_chain": True, "height": height, "next_best": following}


def find_tx(chain: SandboxChain, txid: str) -> Transaction | None:
    """A transaction in the mempool or on the canonical chain (orphaned or replaced ones are gone)."""
    if txid in chain.mempool or txid in chain.tx_block:
        return chain.known_txs[txid]
    return None


def outspend_json(chain: SandboxChain, txid: str, vout: int) -> dict[str, Any]:
    """``SpendingValue``: ``{"spent": false}`` or the spending txid, input index and status."""
    spender = chain.spender.get((txid, vout)) or chain.mempool_spender.get((txid, vout))
    if spender is None:
        return {"spent": False}
    return {"spent": True, "txid": spender[0], "vin": spender[1], "status": status_json(chain, spender[0])}
