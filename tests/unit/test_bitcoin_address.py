"""Address validation against the published BIP-173 / BIP-350 vectors, plus base58 networks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from embit import base58

from domain.bitcoin_address import (
    AddressError,
    InvalidAddress,
    Network,
    ScriptType,
    UnsupportedAddress,
    WrongNetworkAddress,
    decode_address,
    parse_address,
    script_pubkey_address,
)

VECTORS = json.loads((Path(__file__).parents[1] / "vectors" / "bip173_bip350_addresses.json").read_text())
HOME = {"bc": Network.MAINNET, "tb": Network.TESTNET}


def _home(address: str) -> Network:
    return HOME[address.lower()[:2]]


@pytest.mark.parametrize("vector", VECTORS["valid_addresses"], ids=lambda v: f"{v['source']}:{v['address'][:16]}")
def test_valid_vector_decodes_to_published_script(vector: dict) -> None:
    parsed = decode_address(vector["address"], _home(vector["address"]))
    assert parsed.script_pubkey.hex() == vector["script_pubkey"]


@pytest.mark.parametrize("vector", VECTORS["valid_addresses"], ids=lambda v: f"{v['source']}:{v['address'][:16]}")
def test_valid_vector_of_another_network_is_wrong_network(vector: dict) -> None:
    other = Network.REGTEST if _home(vector["address"]) is Network.MAINNET else Network.MAINNET
    with pytest.raises(WrongNetworkAddress) as exc:
        decode_address(vector["address"], other)
    assert exc.value.code == "wrong_network"


@pytest.mark.parametrize("vector", VECTORS["valid_addresses"], ids=lambda v: f"{v['source']}:{v['address'][:16]}")
def test_parse_accepts_supported_and_names_future_versions_unsupported(vector: dict) -> None:
    spk = bytes.fromhex(vector["script_pubkey"])
    supported = spk[0] == 0 or (spk[0] == 0x51 and spk[1] == 32)
    if supported:
        assert parse_address(vector["address"], _home(vector["address"])).script_type in set(ScriptType)
    else:
        with pytest.raises(UnsupportedAddress) as exc:
            parse_address(vector["address"], _home(vector["address"]))
        assert exc.value.code == "unsupported_script"


def test_testnet_prefix_is_valid_on_signet_too() -> None:
    address = "tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3q0sl5k7"
    assert parse_address(address, Network.SIGNET).script_type is ScriptType.P2WSH


@pytest.mark.parametrize("vector", VECTORS["invalid_addresses"], ids=lambda v: f"{v['source']}:{v['reason']}")
@pytest.mark.parametrize("network", list(Network))
def test_invalid_vector_rejected_on_every_network(vector: dict, network: Network) -> None:
    with pytest.raises(InvalidAddress):
        decode_address(vector["address"], network)


@pytest.mark.parametrize("vector", VECTORS["bip173_v1plus_superseded"], ids=lambda v: v["address"][:16])
def test_bip173_v1plus_with_bech32_checksum_rejected(vector: dict) -> None:
    with pytest.raises(InvalidAddress) as exc:
        decode_address(vector["address"], Network.MAINNET)
    assert exc.value.code == "invalid_checksum"


STRINGS = VECTORS["bech32_strings_not_addresses"]


@pytest.mark.parametrize(
    "text",
    STRINGS["valid_bech32"] + STRINGS["valid_bech32m"] + STRINGS["invalid_bech32"] + STRINGS["invalid_bech32m"],
)
def test_bech32_strings_that_are_not_addresses_rejected(text: str) -> None:
    with pytest.raises(AddressError):
        decode_address(text, Network.MAINNET)


@pytest.mark.parametrize(
    ("version_byte", "network", "script_type"),
    [
        (b"\x00", Network.MAINNET, ScriptType.P2PKH),
        (b"\x05", Network.MAINNET, ScriptType.P2SH),
        (b"\x6f", Network.TESTNET, ScriptType.P2PKH),
        (b"\xc4", Network.SIGNET, ScriptType.P2SH),
        (b"\x6f", Network.REGTEST, ScriptType.P2PKH),
    ],
)
def test_base58_addresses_checked_for_network(version_byte: bytes, network: Network, script_type: ScriptType) -> None:
    address = base58.encode_check(version_byte + bytes(range(20)))
    parsed = parse_address(address, network)
    assert parsed.script_type is script_type
    assert script_pubkey_address(parsed.script_pubkey, network) == address
    wrong = Network.TESTNET if network is Network.MAINNET else Network.MAINNET
    with pytest.raises(WrongNetworkAddress):
        parse_address(address, wrong)


def test_base58_checksum_error() -> None:
    address = base58.encode_check(b"\x00" + bytes(range(20)))
    corrupted = address[:-1] + ("2" if address[-1] != "2" else "3")
    with pytest.raises(InvalidAddress) as exc:
        parse_address(corrupted, Network.MAINNET)
    assert exc.value.code == "invalid_checksum"


@pytest.mark.parametrize("text", ["", "hello", "0OIl", base58.encode_check(b"\x30" + bytes(20)), base58.encode_check(b"\x00" + bytes(19))])
def test_garbage_rejected(text: str) -> None:
    with pytest.raises(AddressError):
        parse_address(text, Network.MAINNET)


def test_regtest_bech32_prefix() -> None:
    address = script_pubkey_address(b"\x00\x14" + bytes(20), Network.REGTEST)
    assert address is not None and address.startswith("bcrt1q")
    assert parse_address(address, Network.REGTEST).script_type is ScriptType.P2WPKH
    with pytest.raises(WrongNetworkAddress):
        parse_address(address, Network.TESTNET)
