"""Inclusion proofs of a confirmed transaction: ``/tx/:txid/merkle-proof`` (Electrum's
``blockchain.transaction.get_merkle`` shape) and ``/tx/:txid/merkleblock-proof`` (a serialized
``CMerkleBlock``, as Bitcoin Core's ``gettxoutproof`` returns it).

Hashes travel in display (reversed) hex in the JSON proof. The merkle block is the 80-byte
header, the block's transaction count (uint32), the partial merkle tree's hashes (CompactSize
count, internal byte order) and its flag bits (CompactSize byte count, LSB first).
Source: electrs ``util/electrum_merkle.rs``; BIP 37 (partial merkle trees); Bitcoin Core
``merkleblock.cpp`` (``CPartialMerkleTree::TraverseAndBuild``).
"""

from __future__ import annotations

from typing import Any

from custody_sandbox.esplora.blocks import Block, compact_size, sha256d


def merkle_branch(leaves: list[bytes], position: int) -> list[bytes]:
    """The sibling hashes from leaf ``position`` up to the root (internal byte order)."""
    branch, level, index = [], list(leaves), position
    while len(level) > 1:
        if len(level) % 2:
            level.append(level[-1])
        branch.append(level[index ^ 1])
        level = [sha256d(level[i] + level[i + 1]) for i in range(0, len(level), 2)]
        index //= 2
    return branch


def merkle_proof_json(block: Block, txid: str) -> dict[str, Any]:
    """``{"block_height", "merkle", "pos"}`` for ``txid`` in ``block``."""
    leaves = [tx.txid() for tx in block.txs]
    position = [leaf.hex() for leaf in leaves].index(txid)
    branch = merkle_branch([leaf[::-1] for leaf in leaves], position)
    return {"block_height": block.height, "merkle": [h[::-1].hex() for h in branch], "pos": position}


def merkleblock_hex(block: Block, txid: str) -> str:
    """The ``CMerkleBlock`` proving ``txid`` alone, hex."""
    leaves = [tx.txid()[::-1] for tx in block.txs]  # internal byte order
    matches = [tx.txid().hex() == txid for tx in block.txs]
    total = len(leaves)

    def width(height: int) -> int:
        return (total + (1 << height) - 1) >> height

    def node_hash(height: int, pos: int) -> bytes:
        if height == 0:
            return leaves[pos]
        left = node_hash(height - 1, pos * 2)
        right = node_hash(height - 1, pos * 2 + 1) if pos * 2 + 1 < width(height - 1) else left
        return sha256d(left + right)

    bits: list[bool] = []
    hashes: list[bytes] = []

    def build(height: int, pos: int) -> None:
        parent_of_match = any(matches[p] for p in range(pos << height, min((pos + 1) << height, total)))
        bits.append(parent_of_match)
        if height == 0 or not parent_of_match:
            hashes.append(node_hash(height, pos))
            return
        build(height - 1, pos * 2)
        if pos * 2 + 1 < width(height - 1):
            build(height - 1, pos * 2 + 1)

    tree_height = 0
    while width(tree_height) > 1:
        tree_height += 1
    build(tree_height, 0)
    flags = bytearray((len(bits) + 7) // 8)
    for i, bit in enumerate(bits):
        flags[i // 8] |= bit << (i % 8)
    body = block.header + total.to_bytes(4, "little") + compact_size(len(hashes)) + b"".join(hashes)
    return (body + compact_size(len(flags)) + bytes(flags)).hex()
