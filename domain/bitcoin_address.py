"""Bitcoin address parsing and validation, per network (pure, no I/O).

Owns the rule "every address is validated for checksum *and* network" (docs/DESIGN.md §6):

* base58check (P2PKH, P2SH): checksum, then the version byte of the network
  (mainnet 0x00/0x05; testnet, signet and regtest 0x6f/0xc4).
* bech32 (BIP 173) for witness version 0 and bech32m (BIP 350) for versions 1-16:
  checksum variant, human-readable part of the network (``bc``, ``tb``, ``bcrt``),
  witness version, program length and padding.

All encoding work is done by embit; this module only decides and names the reason.

Exception tree::

    AddressError (code)
     ├── InvalidAddress        invalid_encoding | invalid_checksum | invalid_witness_program
     ├── WrongNetworkAddress   wrong_network
     └── UnsupportedAddress    unsupported_script
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from embit import base58, bech32
from embit.networks import NETWORKS
from embit.script import Script

from domain.errors import DomainError


class Network(StrEnum):
    """Bitcoin networks the custody engine runs on."""

    MAINNET = "mainnet"
    TESTNET = "testnet"
    SIGNET = "signet"
    REGTEST = "regtest"


class ScriptType(StrEnum):
    """Output script templates the engine can pay to (Bitcoin Core names)."""

    P2PKH = "p2pkh"
    P2SH = "p2sh"
    P2WPKH = "p2wpkh"
    P2WSH = "p2wsh"
    P2TR = "p2tr"


_EMBIT_NAME = {
    Network.MAINNET: "main",
    Network.TESTNET: "test",
    Network.SIGNET: "signet",
    Network.REGTEST: "regtest",
}
KNOWN_HRPS = frozenset({"bc", "tb", "bcrt"})


class AddressError(DomainError, ValueError):
    """An address was refused; ``code`` is stable, ``reason`` is for people."""

    code = "invalid_address"

    def __init__(self, reason: str, *, code: str | None = None) -> None:
        super().__init__(reason, code=code)
        self.reason = reason


class InvalidAddress(AddressError):
    """The string is not a well-formed address (encoding, checksum or witness program)."""

    code = "invalid_encoding"


class WrongNetworkAddress(AddressError):
    """A well-formed address that belongs to another network."""

    code = "wrong_network"


class UnsupportedAddress(AddressError):
    """A well-formed address of this network whose script we do not pay (e.g. witness v2+)."""

    code = "unsupported_script"


@dataclass(frozen=True)
class ParsedAddress:
    """A decoded address.

    Attributes:
        address: the address as given (bech32 kept in its canonical lower case).
        network: the network it was validated against.
        script_type: one of ScriptType, or None for a valid future witness version.
        script_pubkey: the output script it pays to (bytes).
        witness_version: 0-16 for native segwit, None for base58 addresses.
    """

    address: str
    network: Network
    script_type: ScriptType | None
    script_pubkey: bytes
    witness_version: int | None


def embit_network(network: Network | str) -> dict[str, Any]:
    """The embit network parameters (prefixes, bech32 hrp, key versions) of ``network``."""
    params: dict[str, Any] = NETWORKS[_EMBIT_NAME[Network(network)]]
    return params


def decode_address(address: str, network: Network | str) -> ParsedAddress:
    """Decode any address that is valid on ``network`` per BIP 173/350 or base58check.

    Valid future witness versions (2-16, BIP 350) decode with ``script_type=None``.

    Raises:
        InvalidAddress: bad characters, checksum, witness version or program.
        WrongNetworkAddress: valid address of another network.

    Source: BIP 173, BIP 350, BIP 141 (v0 program lengths), Bitcoin Core chainparams.
    """
    net = Network(network)
    if not isinstance(address, str) or not address:
        raise InvalidAddress("empty address")
    encoding, hrp, data = bech32.bech32_decode(address)
    if encoding is not None:
        return _decode_segwit(address.lower(), net, encoding, hrp, data)
    if _looks_bech32(address):
        if address != address.lower() and address != address.upper():
            raise InvalidAddress("bech32 address mixes upper and lower case")
        raise InvalidAddress("bech32 checksum or character set invalid", code="invalid_checksum")
    return _decode_base58(address, net)


def parse_address(address: str, network: Network | str) -> ParsedAddress:
    """Decode an address we can pay: P2PKH, P2SH, P2WPKH, P2WSH or P2TR on ``network``.

    Raises:
        InvalidAddress, WrongNetworkAddress: as ``decode_address``.
        UnsupportedAddress: a valid address of another template (witness v1 non-32-byte, v2-16).
    """
    parsed = decode_address(address, network)
    if parsed.script_type is None:
        raise UnsupportedAddress(
            f"witness version {parsed.witness_version} with a "
            f"{len(parsed.script_pubkey) - 2}-byte program is not a supported script"
        )
    return parsed


def script_pubkey_address(script_pubkey: bytes, network: Network | str) -> str | None:
    """The address of an output script on ``network``; None when it has none (e.g. OP_RETURN)."""
    script = Script(script_pubkey)
    if script.script_type() is None:
        return None
    address: str = script.address(embit_network(network))
    return address


def script_type_of(script_pubkey: bytes) -> ScriptType | None:
    """The ScriptType of an output script, or None for other templates."""
    name = Script(script_pubkey).script_type()
    return ScriptType(name) if name else None


def _looks_bech32(address: str) -> bool:
    hrp = address.lower().rpartition("1")[0]
    return hrp in KNOWN_HRPS


def _decode_segwit(address: str, net: Network, encoding: int, hrp: str, data: list[int]) -> ParsedAddress:
    if hrp not in KNOWN_HRPS:
        raise InvalidAddress(f"unknown human-readable part {hrp!r}", code="invalid_prefix")
    if not data:
        raise InvalidAddress("empty data section", code="invalid_witness_program")
    version = data[0]
    if version > 16:
        raise InvalidAddress(f"invalid witness version {version}", code="invalid_witness_program")
    expected = bech32.Encoding.BECH32 if version == 0 else bech32.Encoding.BECH32M
    if encoding != expected:
        variant = "bech32" if version == 0 else "bech32m"
        raise InvalidAddress(f"witness version {version} requires a {variant} checksum", code="invalid_checksum")
    _, program = bech32.decode(hrp, address)
    if program is None:
        raise InvalidAddress("invalid witness program length or padding", code="invalid_witness_program")
    if hrp != embit_network(net)["bech32"]:
        raise WrongNetworkAddress(f"prefix {hrp!r} is not the {net} prefix")
    script_pubkey = bytes([version + 0x50 if version else 0, len(program)]) + bytes(program)
    return ParsedAddress(address, net, script_type_of(script_pubkey), script_pubkey, version)


def _decode_base58(address: str, net: Network) -> ParsedAddress:
    try:
        payload = base58.decode_check(address)
    except ValueError as exc:  # embit: bad alphabet or checksum mismatch
        code = "invalid_checksum" if "Checksum" in str(exc) else "invalid_encoding"
        raise InvalidAddress(f"not a valid base58check or bech32 address: {exc}", code=code) from exc
    if len(payload) != 21:
        raise InvalidAddress(f"base58 payload of {len(payload)} bytes, expected 21")
    version, body = payload[:1], payload[1:]
    params = embit_network(net)
    if version == params["p2pkh"]:
        script_pubkey = b"\x76\xa9\x14" + body + b"\x88\xac"
    elif version == params["p2sh"]:
        script_pubkey = b"\xa9\x14" + body + b"\x87"
    elif any(version in (p["p2pkh"], p["p2sh"]) for p in NETWORKS.values()):
        raise WrongNetworkAddress(f"version byte 0x{version.hex()} is not a {net} prefix")
    else:
        raise UnsupportedAddress(f"unknown base58 version byte 0x{version.hex()}")
    return ParsedAddress(address, net, script_type_of(script_pubkey), script_pubkey, None)
