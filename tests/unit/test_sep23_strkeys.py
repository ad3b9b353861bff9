"""Stellar account ids against the published SEP-23 strkey vectors (sources in the vector file)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from stellar_sdk import StrKey

from domain.stellar_accounts import InvalidStellarAddress, check_account_strkey

VECTORS = json.loads((Path(__file__).parents[1] / "vectors" / "sep23_strkeys.json").read_text())
NOT_ACCOUNTS = VECTORS["valid_muxed"] + VECTORS["valid_secret_seeds"] + VECTORS["valid_contracts"]
NOT_ACCOUNTS += VECTORS["valid_other_types"]


def _id(vector: dict) -> str:
    return f"{vector['source']}:{vector['strkey'][:12] or '<empty>'}"


@pytest.mark.parametrize("vector", VECTORS["valid_accounts"], ids=_id)
def test_valid_account_is_accepted_and_decodes_to_published_key(vector: dict) -> None:
    strkey = vector["strkey"]
    assert check_account_strkey(strkey) == strkey
    raw = StrKey.decode_ed25519_public_key(strkey)
    assert StrKey.encode_ed25519_public_key(raw) == strkey
    if vector["ed25519"] is not None:
        assert raw.hex() == vector["ed25519"]
    if "muxed_account_xdr" in vector:  # SEP-23 prints it as XDR: KEY_TYPE_ED25519 (0), then the key
        xdr = bytes.fromhex(vector["muxed_account_xdr"])
        assert xdr[:4] == bytes(4) and xdr[4:] == raw


@pytest.mark.parametrize("vector", VECTORS["invalid"], ids=_id)
def test_invalid_strkey_is_refused(vector: dict) -> None:
    with pytest.raises(InvalidStellarAddress) as exc:
        check_account_strkey(vector["strkey"])
    assert exc.value.code == "invalid_stellar_address"


@pytest.mark.parametrize("vector", NOT_ACCOUNTS, ids=_id)
def test_valid_strkey_of_another_type_is_refused_as_account(vector: dict) -> None:
    with pytest.raises(InvalidStellarAddress):
        check_account_strkey(vector["strkey"])


@pytest.mark.parametrize("vector", VECTORS["valid_muxed"], ids=_id)
def test_muxed_vector_decodes_to_published_key_and_id(vector: dict) -> None:
    payload = StrKey.decode_med25519_public_key(vector["strkey"])  # ed25519 key, then the 64-bit id
    if vector["id"] is None:
        assert len(payload) == 40
        return
    key = StrKey.decode_ed25519_public_key(vector["ed25519_strkey"])
    assert payload == key + vector["id"].to_bytes(8, "big")
    xdr = bytes.fromhex(vector["muxed_account_xdr"])  # KEY_TYPE_MUXED_ED25519 (0x100), id, key
    assert xdr == bytes.fromhex("00000100") + vector["id"].to_bytes(8, "big") + key


@pytest.mark.parametrize("vector", VECTORS["valid_secret_seeds"], ids=_id)
def test_secret_seed_vector_decodes(vector: dict) -> None:
    seed = StrKey.decode_ed25519_secret_seed(vector["strkey"])
    assert vector["seed"] is None or seed.hex() == vector["seed"]


def test_contract_vector_decodes_to_published_hash() -> None:
    for vector in VECTORS["valid_contracts"]:
        assert StrKey.decode_contract(vector["strkey"]).hex() == vector["hash"]
