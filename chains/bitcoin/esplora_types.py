"""Typed Esplora answers (frozen dataclasses) and their parsers.

Amounts are integer satoshis; heights are blocks; times are Unix seconds as Esplora gives them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from chains.bitcoin.errors import ChainResponseError
from domain.bitcoin_chain import OutputAmount


@dataclass(frozen=True)
class TxStatus:
    """Where a transaction is: in the mempool (``confirmed`` False) or in a canonical block."""

    confirmed: bool
    block_height: int | None = None
    block_hash: str | None = None
    block_time: int | None = None


@dataclass(frozen=True)
class TxOutput:
    """One output: index, script (hex), address (None for OP_RETURN etc.) and value in sats."""

    vout: int
    script_pubkey: str
    address: str | None
    amount_sats: int
    script_type: str


@dataclass(frozen=True)
class TxInput:
    """One input: the outpoint it spends, and the spent value in sats when known."""

    txid: str
    vout: int
    is_coinbase: bool
    prevout_amount_sats: int | None
    sequence: int


@dataclass(frozen=True)
class Transaction:
    """A transaction as Esplora describes it; ``fee_sats`` is 0 for coinbase."""

    txid: str
    version: int
    locktime: int
    inputs: tuple[TxInput, ...]
    outputs: tuple[TxOutput, ...]
    fee_sats: int
    weight: int
    status: TxStatus

    @property
    def vsize(self) -> int:
        """Virtual size in vB (weight / 4, rounded up)."""
        return -(-self.weight // 4)


@dataclass(frozen=True)
class AddressUtxo(OutputAmount):
    """An unspent output paying an address, and where its transaction is."""

    status: TxStatus


@dataclass(frozen=True)
class Outspend:
    """Spending status of one output."""

    spent: bool
    txid: str | None = None
    vin: int | None = None
    status: TxStatus | None = None


@dataclass(frozen=True)
class Block:
    """Header summary of a block."""

    block_hash: str
    height: int
    previous_block_hash: str | None
    timestamp: int
    tx_count: int


@dataclass(frozen=True)
class FeeEstimates:
    """Fee rate (integer sat/vB, rounded up) to confirm within N blocks, keyed by N."""

    rates_sat_vb: Mapping[int, int]


def parse_status(data: Mapping[str, Any]) -> TxStatus:
    """Parse Esplora's ``status`` object."""
    try:
        if not data["confirmed"]:
            return TxStatus(confirmed=False)
        return TxStatus(
            confirmed=True,
            block_height=int(data["block_height"]),
            block_hash=str(data["block_hash"]),
            block_time=int(data["block_time"]) if data.get("block_time") is not None else None,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ChainResponseError(f"unusable tx status: {data!r}") from exc


def parse_transaction(data: Mapping[str, Any]) -> Transaction:
    """Parse Esplora's transaction object (GET /tx/:txid, /address/:addr/txs)."""
    try:
        inputs = tuple(
            TxInput(
                txid=i["txid"],
                vout=int(i["vout"]),
                is_coinbase=bool(i.get("is_coinbase", False)),
                prevout_amount_sats=int(i["prevout"]["value"]) if i.get("prevout") else None,
                sequence=int(i.get("sequence", 0xFFFFFFFF)),
            )
            for i in data["vin"]
        )
        outputs = tuple(
            TxOutput(
                vout=n,
                script_pubkey=o["scriptpubkey"],
                address=o.get("scriptpubkey_address"),
                amount_sats=int(o["value"]),
                script_type=o.get("scriptpubkey_type", "unknown"),
            )
            for n, o in enumerate(data["vout"])
        )
        return Transaction(
            txid=data["txid"],
            version=int(data["version"]),
            locktime=int(data["locktime"]),
            inputs=inputs,
            outputs=outputs,
            fee_sats=int(data.get("fee", 0)),
            weight=int(data["weight"]),
            status=parse_status(data["status"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ChainResponseError(f"unusable transaction: {exc}") from exc
