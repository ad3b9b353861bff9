"""Output script templates, regtest addresses and dust, as Bitcoin Core and Esplora name them.

* ``solve(script)``: Bitcoin Core's ``Solver`` template (``TxoutType``): ``pubkey``,
  ``pubkeyhash``, ``scripthash``, ``multisig``, ``nulldata``, ``witness_v0_keyhash``,
  ``witness_v0_scripthash``, ``witness_v1_taproot``, ``witness_unknown``, ``anchor`` (not in
  27.x: an ``OP_1 <4e73>`` output solves as ``witness_unknown`` there), ``nonstandard``.
* ``esplora_type(script)``: electrs' ``scriptpubkey_type`` (``p2pkh``, ``v0_p2wpkh``, ``v1_p2tr``, …).
* ``address_of`` / ``script_of_address``: regtest addresses (bech32 ``bcrt``, base58 versions
  0x6f/0xc4), with electrs' error texts ``Invalid Bitcoin address`` and ``Address on invalid network``.
* ``dust_threshold_sats``: Core's ``GetDustThreshold`` at the default ``-dustrelayfee`` of
  3000 sat/kvB (294 sats for P2WPKH, 330 P2WSH/P2TR, 546 P2PKH, 540 P2SH).

Sources: Bitcoin Core ``script/solver.cpp``, ``policy/policy.cpp``; BIP 141, 173, 341, 350;
electrs ``rest.rs`` (``TxOutValue``) and ``util/script.rs``. Encoding work is embit's.
"""

from __future__ import annotations

from embit import base58, bech32
from embit.networks import NETWORKS
from embit.script import Script

from custody_sandbox.esplora.script_asm import pushes

REGTEST = NETWORKS["regtest"]
DUST_RELAY_FEE_SAT_KVB = 3000
MAX_OP_RETURN_RELAY_BYTES = 83
"""Core's default ``-datacarriersize`` (27.x): the whole null-data scriptPubKey, OP_RETURN included."""


class AddressError(ValueError):
    """An address Esplora refuses with HTTP 400 (``str(err)`` is electrs' body)."""


def _is_pubkey(data: bytes) -> bool:
    return (len(data) == 33 and data[0] in (2, 3)) or (len(data) == 65 and data[0] in (4, 6, 7))


def solve(script: bytes) -> str:
    """Core's ``Solver`` output type name for ``script``."""
    n = len(script)
    if n == 25 and script[:3] == b"\x76\xa9\x14" and script[23:] == b"\x88\xac":
        return "pubkeyhash"
    if n == 23 and script[:2] == b"\xa9\x14" and script[22] == 0x87:
        return "scripthash"
    if 4 <= n <= 42 and (script[0] == 0 or 0x51 <= script[0] <= 0x60) and script[1] + 2 == n and 2 <= script[1] <= 40:
        version = 0 if script[0] == 0 else script[0] - 0x50
        program = script[2:]
        if version == 0 and len(program) == 20:
            return "witness_v0_keyhash"
        if version == 0 and len(program) == 32:
            return "witness_v0_scripthash"
        if version == 0:
            return "nonstandard"
        if version == 1 and len(program) == 32:
            return "witness_v1_taproot"
        return "witness_unknown"
    if n and script[0] == 0x6A and pushes(script[1:]) is not None:
        return "nulldata"
    if n in (35, 67) and script[0] == n - 2 and script[-1] == 0xAC and _is_pubkey(script[1:-1]):
        return "pubkey"
    if _is_multisig(script):
        return "multisig"
    return "nonstandard"


def _is_multisig(script: bytes) -> bool:
    if len(script) < 3 or script[-1] != 0xAE or not 0x51 <= script[0] <= 0x60 or not 0x51 <= script[-2] <= 0x60:
        return False
    keys = pushes(script[1:-2])
    m, n = script[0] - 0x50, script[-2] - 0x50
    return keys is not None and len(keys) == n and 1 <= m <= n and all(_is_pubkey(k) for k in keys)


def multisig_params(script: bytes) -> tuple[int, int] | None:
    """``(m, n)`` of a bare multisig script, else None."""
    return (script[0] - 0x50, script[-2] - 0x50) if _is_multisig(script) else None


_ESPLORA_TYPES = {
    "pubkey": "p2pk", "pubkeyhash": "p2pkh", "scripthash": "p2sh", "witness_v0_keyhash": "v0_p2wpkh",
    "witness_v0_scripthash": "v0_p2wsh", "witness_v1_taproot": "v1_p2tr", "nulldata": "op_return",
}


def esplora_type(script: bytes) -> str:
    """electrs' ``scriptpubkey_type``: ``empty``, ``op_return`` (any OP_RETURN script), ``p2pk``,
    ``p2pkh``, ``p2sh``, ``v0_p2wpkh``, ``v0_p2wsh``, ``v1_p2tr``, ``provably_unspendable`` or ``unknown``."""
    if not script:
        return "empty"
    if script[0] == 0x6A:
        return "op_return"
    kind = _ESPLORA_TYPES.get(solve(script))
    if kind:
        return kind
    return "provably_unspendable" if len(script) > 10_000 else "unknown"


def address_of(script: bytes) -> str | None:
    """The regtest address of an output script (None when it has none, as electrs omits it)."""
    kind = solve(script)
    if kind in ("pubkeyhash", "scripthash", "witness_v0_keyhash", "witness_v0_scripthash", "witness_v1_taproot", "witness_unknown"):
        return Script(script).address(REGTEST)
    return None


def script_of_address(address: str) -> bytes:
    """The output script an address pays.

    Raises:
        AddressError: ``Invalid Bitcoin address`` or ``Address on invalid network`` (electrs' texts).
    """
    lowered = address.lower()
    if "1" in lowered and lowered.split("1")[0] in ("bc", "tb", "bcrt"):
        hrp = lowered.rsplit("1", 1)[0]
        version, program = bech32.decode(hrp, address)
        if version is None:
            raise AddressError("Invalid Bitcoin address")
        if hrp != REGTEST["bech32"]:
            raise AddressError("Address on invalid network")
        return bytes([0 if version == 0 else 0x50 + version, len(program)]) + bytes(program)
    try:
        raw = base58.decode_check(address)
    except Exception as exc:  # embit raises plain ValueError/Exception subclasses for bad base58
        raise AddressError("Invalid Bitcoin address") from exc
    if len(raw) != 21:
        raise AddressError("Invalid Bitcoin address")
    if raw[:1] == REGTEST["p2pkh"]:
        return b"\x76\xa9\x14" + raw[1:] + b"\x88\xac"
    if raw[:1] == REGTEST["p2sh"]:
        return b"\xa9\x14" + raw[1:] + b"\x87"
    if raw[:1] in (b"\x00", b"\x05"):
        raise AddressError("Address on invalid network")
    raise AddressError("Invalid Bitcoin address")


def output_size(script: bytes) -> int:
    """Serialized size of an output paying ``script``: value, CompactSize length, script."""
    n = len(script)
    return 8 + (1 if n < 0xFD else 3 if n <= 0xFFFF else 5) + n


def dust_threshold_sats(script: bytes) -> int:
    """Core's ``GetDustThreshold`` at 3000 sat/kvB; 0 for unspendable (OP_RETURN) outputs."""
    if script[:1] == b"\x6a" or len(script) > 10_000:
        return 0
    size = output_size(script)
    witness = solve(script).startswith("witness_") or solve(script) == "witness_unknown"
    size += (32 + 4 + 1 + 107 // 4 + 4) if witness else (32 + 4 + 1 + 107 + 4)
    return DUST_RELAY_FEE_SAT_KVB * size // 1000
