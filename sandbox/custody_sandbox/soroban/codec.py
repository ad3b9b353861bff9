"""Typed SCVal codecs for the sandbox's contract models.

A contract model declares each parameter, return value and stored value with one of these
codecs, so arguments are type-checked the way the Soroban host checks them against the
contract spec: a value of the wrong SCVal type traps with ``Error(Value, UnexpectedType)``.

Units are whatever the contract says (satoshis for ``u64`` amounts, token base units for
``i128``); the codecs never scale numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from stellar_sdk import Address, StrKey, scval, xdr

from custody_sandbox.soroban.host_errors import HostTrap

T = xdr.SCValType


class Codec:
    """Encode a Python value to an SCVal and decode it back, checking the SCVal type."""

    name: str

    def enc(self, value: Any) -> xdr.SCVal:
        raise NotImplementedError

    def dec(self, val: xdr.SCVal) -> Any:
        raise NotImplementedError

    def _check(self, val: xdr.SCVal, expected: xdr.SCValType) -> None:
        if val.type != expected:
            raise HostTrap("Value", "UnexpectedType", f"expected {self.name}, got {val.type.name}")


@dataclass(frozen=True)
class _Int(Codec):
    name: str
    sc_type: xdr.SCValType
    lo: int
    hi: int

    def enc(self, value: int) -> xdr.SCVal:
        if not self.lo <= value <= self.hi:
            raise HostTrap("Value", "InvalidInput", f"{value} out of range for {self.name}")
        return {
            "u32": scval.to_uint32,
            "u64": scval.to_uint64,
            "i128": scval.to_int128,
        }[self.name](value)

    def dec(self, val: xdr.SCVal) -> int:
        self._check(val, self.sc_type)
        return {"u32": scval.from_uint32, "u64": scval.from_uint64, "i128": scval.from_int128}[
            self.name
        ](val)


U32 = _Int("u32", T.SCV_U32, 0, 2**32 - 1)
U64 = _Int("u64", T.SCV_U64, 0, 2**64 - 1)
I128 = _Int("i128", T.SCV_I128, -(2**127), 2**127 - 1)


class _Bool(Codec):
    name = "bool"

    def enc(self, value: bool) -> xdr.SCVal:
        return scval.to_bool(value)

    def dec(self, val: xdr.SCVal) -> bool:
        self._check(val, T.SCV_BOOL)
        return bool(val.b)


class _Void(Codec):
    name = "void"

    def enc(self, value: None) -> xdr.SCVal:
        return scval.to_void()

    def dec(self, val: xdr.SCVal) -> None:
        self._check(val, T.SCV_VOID)
        return None


class _Str(Codec):
    name = "String"

    def enc(self, value: str) -> xdr.SCVal:
        return scval.to_string(value)

    def dec(self, val: xdr.SCVal) -> str:
        self._check(val, T.SCV_STRING)
        try:
            return scval.from_string(val).decode()
        except UnicodeDecodeError as exc:
            raise HostTrap("Value", "InvalidInput", "string is not UTF-8") from exc


class _Sym(Codec):
    name = "Symbol"

    def enc(self, value: str) -> xdr.SCVal:
        return scval.to_symbol(value)

    def dec(self, val: xdr.SCVal) -> str:
        self._check(val, T.SCV_SYMBOL)
        return scval.from_symbol(val)


@dataclass(frozen=True)
class _Bytes(Codec):
    name: str
    length: int | None

    def enc(self, value: bytes) -> xdr.SCVal:
        return scval.to_bytes(value)

    def dec(self, val: xdr.SCVal) -> bytes:
        self._check(val, T.SCV_BYTES)
        raw = scval.from_bytes(val)
        if self.length is not None and len(raw) != self.length:
            raise HostTrap("Value", "UnexpectedSize", f"expected {self.name}")
        return raw


class _Addr(Codec):
    """Addresses travel as strkey strings (``G…`` accounts, ``C…`` contracts)."""

    name = "Address"

    def enc(self, value: str) -> xdr.SCVal:
        return scval.to_address(value)

    def dec(self, val: xdr.SCVal) -> str:
        self._check(val, T.SCV_ADDRESS)
        return scval.from_address(val).address


@dataclass(frozen=True)
class Tuple(Codec):
    """A fixed-length ``Vec`` of differently typed items (Rust tuples)."""

    items: tuple[Codec, ...]
    name: str = "tuple"

    def enc(self, value: tuple) -> xdr.SCVal:
        return scval.to_vec([c.enc(v) for c, v in zip(self.items, value, strict=True)])

    def dec(self, val: xdr.SCVal) -> tuple:
        self._check(val, T.SCV_VEC)
        vals = val.vec.sc_vec if val.vec else []
        if len(vals) != len(self.items):
            raise HostTrap("Value", "UnexpectedSize", "tuple length mismatch")
        return tuple(c.dec(v) for c, v in zip(self.items, vals, strict=True))


@dataclass(frozen=True)
class Struct(Codec):
    """A Rust struct: a map keyed by field-name symbols, sorted as the host requires."""

    fields: tuple[tuple[str, Codec], ...]
    name: str = "struct"

    def enc(self, value: dict[str, Any]) -> xdr.SCVal:
        return scval.to_struct({k: c.enc(value[k]) for k, c in self.fields})

    def dec(self, val: xdr.SCVal) -> dict[str, Any]:
        self._check(val, T.SCV_MAP)
        got = {scval.from_symbol(e.key): e.val for e in (val.map.sc_map if val.map else [])}
        try:
            return {k: c.dec(got[k]) for k, c in self.fields}
        except KeyError as exc:
            raise HostTrap("Value", "MissingValue", f"struct field {exc}") from exc


BOOL = _Bool()
VOID = _Void()
STRING = _Str()
SYMBOL = _Sym()
BYTES = _Bytes("Bytes", None)
BYTES32 = _Bytes("BytesN<32>", 32)
ADDRESS = _Addr()


def storage_key(name: str, *parts: Any) -> xdr.SCVal:
    """Build a storage key ``Vec[Symbol(name), parts...]`` like a ``#[contracttype]`` enum key.

    Parts: strkey strings become Addresses, bytes become Bytes, ints become u64.
    """
    out = [scval.to_symbol(name)]
    for part in parts:
        if isinstance(part, bytes):
            out.append(scval.to_bytes(part))
        elif isinstance(part, int):
            out.append(scval.to_uint64(part))
        elif isinstance(part, str) and (
            StrKey.is_valid_ed25519_public_key(part) or StrKey.is_valid_contract(part)
        ):
            out.append(scval.to_address(Address(part)))
        else:
            out.append(scval.to_string(str(part)))
    return scval.to_vec(out)
