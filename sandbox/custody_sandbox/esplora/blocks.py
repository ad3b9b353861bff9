"""Block construction for the sandbox chain: coinbase, merkle roots, header and regtest PoW.

Everything is real Bitcoin serialization (embit ``Transaction``); only the difficulty is
regtest's (``bits = 0x207fffff``), so a block is found in about two header hashes. Block 0 is
Bitcoin Core's regtest genesis block (hash ``0f9188f1…2206``), byte for byte, so wallets that
check the genesis hash of their network (BDK, Core's own) accept the chain.
Source: BIP 34 (height in coinbase), BIP 141 (witness commitment), Bitcoin Core
``kernel/chainparams.cpp`` (``CRegTestParams``: genesis time 1296688602, nonce 2, bits 0x207fffff).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from embit.script import Script, Witness
from embit.transaction import Transaction, TransactionInput, TransactionOutput

from custody_sandbox.esplora.weight import stripped_size

COIN_SATS = 100_000_000
HALVING_INTERVAL_BLOCKS = 150
"""Regtest subsidy halving interval (Bitcoin Core ``nSubsidyHalvingInterval``)."""
COINBASE_MATURITY_BLOCKS = 100
REGTEST_BITS = 0x207FFFFF
BLOCK_VERSION = 0x20000000
REGTEST_GENESIS_HASH = "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206"
_GENESIS_COINBASE_HEX = (
    "01000000010000000000000000000000000000000000000000000000000000000000000000ffffffff4d04ffff001d010445"
    "5468652054696d65732030332f4a616e2f32303039204368616e63656c6c6f72206f6e206272696e6b206f66207365636f"
    "6e64206261696c6f757420666f722062616e6b73ffffffff0100f2052a01000000434104678afdb0fe5548271967f1a671"
    "30b7105cd6a828e03909a67962e0ea1f61deb649f6bc3f4cef38c4f35504e51ec112de5c384df7ba0b8d578a4c702b6bf1"
    "1d5fac00000000"
)
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
    version: int = BLOCK_VERSION
    header: bytes = field(default=b"", init=False)

    def solve(self) -> Block:
        """Set the header, grinding the nonce until the regtest target is met."""
        root = merkle_root([tx.hash() for tx in self.txs])
        exponent, mantissa = REGTEST_BITS >> 24, REGTEST_BITS & 0xFFFFFF
        target = mantissa << (8 * (exponent - 3))
        while True:
            header = (
                self.version.to_bytes(4, "little")
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


def genesis_block() -> Block:
    """Bitcoin's regtest genesis block (its coinbase output is unspendable, as in Core)."""
    coinbase = Transaction.from_string(_GENESIS_COINBASE_HEX)
    block = Block(0, b"\x00" * 32, 1296688602, [coinbase], nonce=2, version=1).solve()
    assert block.hash == REGTEST_GENESIS_HASH, block.hash
    return block


def difficulty(bits: int) -> float:
    """Core's ``GetDifficulty``: the difficulty-1 target over this target (regtest: 4.66e-10)."""
    shift = (bits >> 24) & 0xFF
    value = float(0x0000FFFF) / float(bits & 0x00FFFFFF)
    while shift < 29:
        value *= 256.0
        shift += 1
    while shift > 29:
        value /= 256.0
        shift -= 1
    return value


def compact_size(n: int) -> bytes:
    """Bitcoin's CompactSize (varint) encoding of ``n``."""
    if n < 0xFD:
        return bytes([n])
    if n <= 0xFFFF:
        return b"\xfd" + n.to_bytes(2, "little")
    if n <= 0xFFFFFFFF:
        return b"\xfe" + n.to_bytes(4, "little")
    return b"\xff" + n.to_bytes(8, "little")

