"""Block construction for the sandbox chain: coinbase, merkle roots, header and regtest PoW.

Everything is real Bitcoin serialization (embit ``Transaction``); only the difficulty is
regtest's (``bits = 0x207fffff``), so a block is found in about two header hashes.
Source: BIP 34 (height in coinbase), BIP 141 (witness commitment), Bitcoin Core regtest params.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from embit.script import Script, Witness
from embit.transaction import Transaction, TransactionInput, TransactionOutput

from chains.bitcoin.tx_weight import stripped_size

COIN_SATS = 100_000_000
HALVING_INTERVAL_BLOCKS = 150
"""Regtest subsidy halving interval (Bitcoin Core ``nSubsidyHalvingInterval``)."""
COINBASE_MATURITY_BLOCKS = 100
REGTEST_BITS = 0x207FFFFF
BLOCK_VERSION = 0x20000000
_WITNESS_RESERVED = b"\x00" * 32
_NULL_TXID = b"\x00" * 32


def sha256d(data: bytes) -> bytes:
    return hashlib.sha256(hashlib.sha256(data).digest()).digest()


def block_subsidy_sats(height: int) -> int:
    """New coins in the coinbase of ``height`` (50 BTC halving every 150 blocks, regtest)."""
    halvings = height // HALVING_INTERVAL_BLOCKS
    return 0 if halvings >= 64 else (50 * COIN_SATS) >> halvings


def merkle_root(leaves: list[bytes]) -> bytes:
    """Bitcoin merkle root of internal-order hashes (last one doubled on odd levels)."""
    level = list(leaves)
    while len(level) > 1:
        if len(level) % 2:
            level.append(level[-1])
        level = [sha256d(level[i] + level[i + 1]) for i in range(0, len(level), 2)]
    return level[0]


def wtxid(tx: Transaction) -> bytes:
    """Witness hash in internal byte order (BIP 141)."""
    return sha256d(tx.serialize())


def is_coinbase(tx: Transaction) -> bool:
    return len(tx.vin) == 1 and tx.vin[0].txid == _NULL_TXID and tx.vin[0].vout == 0xFFFFFFFF


def make_coinbase(height: int, value_sats: int, payout_script: bytes, extra_nonce: int, txs: list[Transaction]) -> Transaction:
    """Coinbase paying ``value_sats`` to ``payout_script``, with BIP 34 height and BIP 141 commitment."""
    height_bytes = height.to_bytes((height.bit_length() + 8) // 8, "little")
    script_sig = bytes([len(height_bytes)]) + height_bytes + b"\x08" + extra_nonce.to_bytes(8, "little")
    witness_root = merkle_root([b"\x00" * 32] + [wtxid(tx) for tx in txs])
    commitment = b"\x6a\x24\xaa\x21\xa9\xed" + sha256d(witness_root + _WITNESS_RESERVED)
    coinbase_in = TransactionInput(_NULL_TXID, 0xFFFFFFFF, Script(script_sig), 0xFFFFFFFF, Witness([_WITNESS_RESERVED]))
    outputs = [TransactionOutput(value_sats, Script(payout_script)), TransactionOutput(0, Script(commitment))]
    return Transaction(version=2, vin=[coinbase_in], vout=outputs, locktime=0)


@dataclass
class Block:
    """A block: its 80-byte header fields and its transactions (coinbase first)."""

    height: int
    previous_hash: bytes
    timestamp: int
    txs: list[Transaction]
    nonce: int = 0
    header: bytes = field(default=b"", init=False)

    def solve(self) -> Block:
        """Set the header, grinding the nonce until the regtest target is met."""
        root = merkle_root([tx.hash() for tx in self.txs])
        exponent, mantissa = REGTEST_BITS >> 24, REGTEST_BITS & 0xFFFFFF
        target = mantissa << (8 * (exponent - 3))
        while True:
            header = (
                BLOCK_VERSION.to_bytes(4, "little")
                + self.previous_hash
                + root
                + self.timestamp.to_bytes(4, "little")
                + REGTEST_BITS.to_bytes(4, "little")
                + self.nonce.to_bytes(4, "little")
            )
            if int.from_bytes(sha256d(header), "little") <= target:
                self.header = header
                return self
            self.nonce += 1

    @property
    def hash(self) -> str:
        """Block hash, display (reversed) hex."""
        return sha256d(self.header)[::-1].hex()

    @property
    def merkle_root_hex(self) -> str:
        return self.header[36:68][::-1].hex()

    @property
    def previous_hash_hex(self) -> str:
        return self.previous_hash[::-1].hex()

    def weight(self) -> int:
        """Block weight in WU (BIP 141): 3 x stripped size + total size, header and tx count included."""
        base = 80 + 9 + sum(stripped_size(tx) for tx in self.txs)
        total = 80 + 9 + sum(len(tx.serialize()) for tx in self.txs)
        return 3 * base + total

    def size(self) -> int:
        return 80 + 9 + sum(len(tx.serialize()) for tx in self.txs)

    def serialize(self) -> bytes:
        """The block as the P2P network carries it: header, CompactSize tx count, transactions."""
        return self.header + compact_size(len(self.txs)) + b"".join(tx.serialize() for tx in self.txs)


def compact_size(n: int) -> bytes:
    """Bitcoin's CompactSize (varint) encoding of ``n``."""
    if n < 0xFD:
        return bytes([n])
    if n <= 0xFFFF:
        return b"\xfd" + n.to_bytes(2, "little")
    if n <= 0xFFFFFFFF:
        return b"\xfe" + n.to_bytes(4, "little")
    return b"\xff" + n.to_bytes(8, "little")

