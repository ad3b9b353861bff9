"""Reading serialized blocks (``GET /block/:hash/raw``) for the incremental custody scan.

A block is its 80-byte header, a CompactSize transaction count and the transactions in network
serialization (BIP 144 witness form). Only what the scan needs is extracted: each output's
outpoint, value and address (when its script has one) and each input's spent outpoint.
Source: Bitcoin P2P ``block`` message; BIP 141/144.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass

from embit.base import EmbitError
from embit.script import Script
from embit.transaction import Transaction

from chains.bitcoin.errors import ChainResponseError
from domain.bitcoin_address import Network, embit_network

_COINBASE_PREVOUT = b"\x00" * 32


@dataclass(frozen=True)
class BlockOutput:
    outpoint: str
    value_sats: int
    address: str | None


@dataclass(frozen=True)
class ParsedBlock:
    """A block reduced to what the custody scan reads: its hash, outputs and spent outpoints."""

    block_hash: str
    previous_hash: str
    outputs: tuple[BlockOutput, ...]
    spends: tuple[tuple[str, str], ...]
    """``(spent outpoint, spending txid)`` for every non-coinbase input."""


def _compact_size(stream: io.BytesIO) -> int:
    first = stream.read(1)[0]
    if first < 0xFD:
        return first
    width = {0xFD: 2, 0xFE: 4, 0xFF: 8}[first]
    return int.from_bytes(stream.read(width), "little")


def address_of(script: Script, network: Network | str) -> str | None:
    """The address an output script pays, or None for scripts without one (OP_RETURN, bare)."""
    try:
        return script.address(embit_network(network))
    except (EmbitError, ValueError, KeyError, IndexError):
        return None


def parse_block(raw: bytes, network: Network | str) -> ParsedBlock:
    """Parse a serialized block.

    Raises:
        ChainResponseError: the bytes are not a block.
    """
    try:
        header = raw[:80]
        if len(header) != 80:
            raise ValueError("short header")
        stream = io.BytesIO(raw[80:])
        count = _compact_size(stream)
        outputs: list[BlockOutput] = []
        spends: list[tuple[str, str]] = []
        for _ in range(count):
            tx = Transaction.read_from(stream)
            txid = tx.txid().hex()
            for vin in tx.vin:
                if vin.txid != _COINBASE_PREVOUT:
                    spends.append((f"{vin.txid.hex()}:{vin.vout}", txid))
            for n, out in enumerate(tx.vout):
                outputs.append(BlockOutput(f"{txid}:{n}", out.value, address_of(out.script_pubkey, network)))
        if stream.read(1):
            raise ValueError("trailing bytes after the last transaction")
    except (EmbitError, ValueError, IndexError, KeyError, EOFError) as exc:
        raise ChainResponseError(f"not a serialized block: {exc}") from exc
    digest = hashlib.sha256(hashlib.sha256(header).digest()).digest()
    return ParsedBlock(digest[::-1].hex(), header[4:36][::-1].hex(), tuple(outputs), tuple(spends))
