"""Decode SCVals to plain Python, the representation every wrapper returns.

Integers (u32…i256, timepoints, durations) → ``int``; ``Bytes``/``BytesN`` → ``bytes``;
``String`` → ``str`` (UTF-8, else ``bytes``); ``Symbol`` → ``str``; ``Address`` → strkey
``str``; ``Vec`` → ``list``; ``Map`` → ``dict`` (symbol keys → str); void → ``None``.
"""

from __future__ import annotations

from typing import Any

from stellar_sdk import scval, xdr

T = xdr.SCValType
_INTS = {
    T.SCV_U32: scval.from_uint32,
    T.SCV_I32: scval.from_int32,
    T.SCV_U64: scval.from_uint64,
    T.SCV_I64: scval.from_int64,
    T.SCV_U128: scval.from_uint128,
    T.SCV_I128: scval.from_int128,
    T.SCV_U256: scval.from_uint256,
    T.SCV_I256: scval.from_int256,
    T.SCV_TIMEPOINT: scval.from_timepoint,
    T.SCV_DURATION: scval.from_duration,
}


def to_python(val: xdr.SCVal | str) -> Any:
    """Decode an SCVal (or its base64 XDR) to Python values as described above."""
    if isinstance(val, str):
        val = xdr.SCVal.from_xdr(val)
    if val.type in _INTS:
        return _INTS[val.type](val)
    if val.type == T.SCV_BOOL:
        return bool(val.b)
    if val.type == T.SCV_VOID:
        return None
    if val.type == T.SCV_BYTES:
        return scval.from_bytes(val)
    if val.type == T.SCV_STRING:
        raw = scval.from_string(val)
        try:
            return raw.decode()
        except UnicodeDecodeError:
            return raw
    if val.type == T.SCV_SYMBOL:
        return scval.from_symbol(val)
    if val.type == T.SCV_ADDRESS:
        return scval.from_address(val).address
    if val.type == T.SCV_VEC:
        return [to_python(v) for v in (val.vec.sc_vec if val.vec else [])]
    if val.type == T.SCV_MAP:
        return {_key(e.key): to_python(e.val) for e in (val.map.sc_map if val.map else [])}
    return val  # error, instance and ledger-key values stay as XDR


def _key(val: xdr.SCVal) -> Any:
    out = to_python(val)
    return tuple(out) if isinstance(out, list) else out
