"""Real mainnet and testnet transactions (raw hex from public test suites, sources in the vector file).

Each raw transaction must reproduce the txid its source names, its outputs (sats, script) and their
addresses; the spends our verifier supports (P2WPKH, P2TR key path) must verify on real signatures.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from embit import compact
from embit.script import Script
from embit.transaction import Transaction, TransactionOutput

from chains.bitcoin.script_verify import InvalidSpend, verify_input
from domain.bitcoin_address import decode_address, script_pubkey_address

VECTORS = json.loads((Path(__file__).parents[1] / "vectors" / "transactions.json").read_text())
TXS = VECTORS["transactions"]


def _id(vector: dict) -> str:
    return f"{vector['network']}:{vector['txid'][:12]}"


def _dsha256_reversed(data: bytes) -> str:
    return hashlib.sha256(hashlib.sha256(data).digest()).digest()[::-1].hex()


def _non_witness_serialization(tx: Transaction) -> bytes:
    """version | inputs | outputs | locktime, without marker, flag and witnesses (BIP 144)."""
    return b"".join(
        [
            tx.version.to_bytes(4, "little"),
            compact.to_bytes(len(tx.vin)),
            *(vin.serialize() for vin in tx.vin),
            compact.to_bytes(len(tx.vout)),
            *(vout.serialize() for vout in tx.vout),
            tx.locktime.to_bytes(4, "little"),
        ]
    )


def test_vector_set_covers_the_required_kinds() -> None:
    kinds = " ".join(v["kind"] for v in TXS)
    for kind in ("P2PKH", "P2SH", "P2WPKH", "P2WSH", "P2TR"):
        assert kind in kinds
    assert {"mainnet", "testnet"} <= {v["network"] for v in TXS}


@pytest.mark.parametrize("vector", TXS, ids=_id)
def test_raw_hex_reproduces_published_txid_and_roundtrips(vector: dict) -> None:
    tx = Transaction.from_string(vector["raw"])
    assert tx.serialize().hex() == vector["raw"]
    assert _dsha256_reversed(_non_witness_serialization(tx)) == vector["txid"]
    assert tx.txid().hex() == vector["txid"]
    if tx.is_segwit:
        assert _dsha256_reversed(bytes.fromhex(vector["raw"])) == vector["wtxid_derived"] != vector["txid"]
    else:
        assert "wtxid_derived" not in vector


@pytest.mark.parametrize("vector", TXS, ids=_id)
def test_outputs_and_addresses_are_reproduced(vector: dict) -> None:
    tx = Transaction.from_string(vector["raw"])
    outputs = [(o.value, o.script_pubkey.data.hex()) for o in tx.vout]
    assert outputs == [(o["value"], o["script_pubkey"]) for o in vector["outputs"]]
    for published in vector["outputs"]:
        spk = bytes.fromhex(published["script_pubkey"])
        assert script_pubkey_address(spk, vector["network"]) == published["address"]
        if published["address"] is not None:  # and back through our parser
            assert decode_address(published["address"], vector["network"]).script_pubkey == spk


def _verifiable_by_us(vector: dict) -> bool:
    """Single-input spends of the output kinds chains/bitcoin/script_verify.py checks."""
    if "spent_output" not in vector or len(Transaction.from_string(vector["raw"]).vin) != 1:
        return False
    return Script(bytes.fromhex(vector["spent_output"]["script_pubkey"])).script_type() in ("p2wpkh", "p2tr")


VERIFIABLE = [v for v in TXS if _verifiable_by_us(v)]


@pytest.mark.parametrize("vector", VERIFIABLE, ids=_id)
def test_real_mainnet_signature_verifies(vector: dict) -> None:
    tx = Transaction.from_string(vector["raw"])
    spent = vector["spent_output"]
    prevout = TransactionOutput(spent["value"], Script(bytes.fromhex(spent["script_pubkey"])))
    verify_input(tx, spent["input"], [prevout])
    # Same object on purpose: embit caches sighash parts on it, which must not let a wrong amount
    # through. The signature commits to the amount (BIP 143 / BIP 341).
    with pytest.raises(InvalidSpend):
        verify_input(tx, spent["input"], [TransactionOutput(spent["value"] - 1, prevout.script_pubkey)])


def test_bip143_native_p2wpkh_example_verifies() -> None:
    example = VECTORS["bip143_native_p2wpkh"]
    tx = Transaction.from_string(example["raw"])
    prevouts = [TransactionOutput(p["value"], Script(bytes.fromhex(p["script_pubkey"]))) for p in example["prevouts"]]
    index = example["p2wpkh_input"]
    program = prevouts[index].script_pubkey.data[2:]
    script_code = Script(b"\x76\xa9\x14" + program + b"\x88\xac")
    assert tx.sighash_segwit(index, script_code, prevouts[index].value, sighash=1).hex() == example["sighash_all"]
    verify_input(tx, index, prevouts)
