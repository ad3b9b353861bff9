"""Script disassembly as Esplora prints it (``scriptpubkey_asm``, ``scriptsig_asm``, ``inner_*_asm``).

electrs renders scripts with rust-bitcoin's ``Script::asm`` (its ``get_script_asm``), so the
format is rust-bitcoin's, not Bitcoin Core's ``decodescript``: pushes are ``OP_PUSHBYTES_<n>
<hex>`` (``OP_PUSHDATA1/2/4 <hex>`` for the long forms), ``OP_0`` for the empty push,
``OP_PUSHNUM_<n>`` for OP_1..OP_16 and ``OP_PUSHNUM_NEG1``; ``OP_CLTV``/``OP_CSV`` for the
lock-time opcodes, ``OP_RETURN_<n>`` for the undefined codes 187..254, and a truncated push
ends with ``<push past end>``. Example (a P2WPKH output): ``OP_0 OP_PUSHBYTES_20 751e…3bd6``.

Source: rust-bitcoin ``blockdata/opcodes.rs`` and ``blockdata/script`` (fmt_asm).
"""

from __future__ import annotations

import enum
from collections.abc import Iterator

_NAMED = {
    0x4F: "OP_PUSHNUM_NEG1", 0x50: "OP_RESERVED", 0x61: "OP_NOP", 0x62: "OP_VER", 0x63: "OP_IF", 0x64: "OP_NOTIF",
    0x65: "OP_VERIF", 0x66: "OP_VERNOTIF", 0x67: "OP_ELSE", 0x68: "OP_ENDIF", 0x69: "OP_VERIFY", 0x6A: "OP_RETURN",
    0x6B: "OP_TOALTSTACK", 0x6C: "OP_FROMALTSTACK", 0x6D: "OP_2DROP", 0x6E: "OP_2DUP", 0x6F: "OP_3DUP",
    0x70: "OP_2OVER", 0x71: "OP_2ROT", 0x72: "OP_2SWAP", 0x73: "OP_IFDUP", 0x74: "OP_DEPTH", 0x75: "OP_DROP",
    0x76: "OP_DUP", 0x77: "OP_NIP", 0x78: "OP_OVER", 0x79: "OP_PICK", 0x7A: "OP_ROLL", 0x7B: "OP_ROT",
    0x7C: "OP_SWAP", 0x7D: "OP_TUCK", 0x7E: "OP_CAT", 0x7F: "OP_SUBSTR", 0x80: "OP_LEFT", 0x81: "OP_RIGHT",
    0x82: "OP_SIZE", 0x83: "OP_INVERT", 0x84: "OP_AND", 0x85: "OP_OR", 0x86: "OP_XOR", 0x87: "OP_EQUAL",
    0x88: "OP_EQUALVERIFY", 0x89: "OP_RESERVED1", 0x8A: "OP_RESERVED2", 0x8B: "OP_1ADD", 0x8C: "OP_1SUB",
    0x8D: "OP_2MUL", 0x8E: "OP_2DIV", 0x8F: "OP_NEGATE", 0x90: "OP_ABS", 0x91: "OP_NOT", 0x92: "OP_0NOTEQUAL",
    0x93: "OP_ADD", 0x94: "OP_SUB", 0x95: "OP_MUL", 0x96: "OP_DIV", 0x97: "OP_MOD", 0x98: "OP_LSHIFT",
    0x99: "OP_RSHIFT", 0x9A: "OP_BOOLAND", 0x9B: "OP_BOOLOR", 0x9C: "OP_NUMEQUAL", 0x9D: "OP_NUMEQUALVERIFY",
    0x9E: "OP_NUMNOTEQUAL", 0x9F: "OP_LESSTHAN", 0xA0: "OP_GREATERTHAN", 0xA1: "OP_LESSTHANOREQUAL",
    0xA2: "OP_GREATERTHANOREQUAL", 0xA3: "OP_MIN", 0xA4: "OP_MAX", 0xA5: "OP_WITHIN", 0xA6: "OP_RIPEMD160",
    0xA7: "OP_SHA1", 0xA8: "OP_SHA256", 0xA9: "OP_HASH160", 0xAA: "OP_HASH256", 0xAB: "OP_CODESEPARATOR",
    0xAC: "OP_CHECKSIG", 0xAD: "OP_CHECKSIGVERIFY", 0xAE: "OP_CHECKMULTISIG", 0xAF: "OP_CHECKMULTISIGVERIFY",
    0xB0: "OP_NOP1", 0xB1: "OP_CLTV", 0xB2: "OP_CSV", 0xB3: "OP_NOP4", 0xB4: "OP_NOP5", 0xB5: "OP_NOP6",
    0xB6: "OP_NOP7", 0xB7: "OP_NOP8", 0xB8: "OP_NOP9", 0xB9: "OP_NOP10", 0xBA: "OP_CHECKSIGADD",
    0xFF: "OP_INVALIDOPCODE",
}


def opcode_name(op: int) -> str:
    """rust-bitcoin's name of a non-push opcode byte."""
    if 0x51 <= op <= 0x60:
        return f"OP_PUSHNUM_{op - 0x50}"
    if op in _NAMED:
        return _NAMED[op]
    return f"OP_RETURN_{op}"  # 0xbb..0xfe: undefined, rendered as rust-bitcoin names them


class _Cut(enum.Enum):
    """What the script's end cut off of its last push."""

    LENGTH = "the length bytes of an OP_PUSHDATA1/2/4"
    DATA = "the data"


_PUSHDATA = {0x4C: ("OP_PUSHDATA1", 1), 0x4D: ("OP_PUSHDATA2", 2), 0x4E: ("OP_PUSHDATA4", 4)}  # name, length bytes


def _ops(script: bytes) -> Iterator[tuple[int, bytes | None | _Cut]]:
    """Each opcode byte of ``script`` in order with the data it pushes from the script (``b""`` for
    OP_0, None for an opcode that pushes nothing from it); a push the script's end cuts short comes
    last, with what was cut off instead of its data."""
    i, n = 0, len(script)
    while i < n:
        op = script[i]
        i += 1
        if op > 0x4E:
            yield op, None
            continue
        size = op
        if op in _PUSHDATA:
            width = _PUSHDATA[op][1]
            if i + width > n:
                yield op, _Cut.LENGTH
                return
            size = int.from_bytes(script[i : i + width], "little")
            i += width
        if i + size > n:
            yield op, _Cut.DATA
            return
        yield op, script[i : i + size]
        i += size


def script_asm(script: bytes) -> str:
    """Disassemble ``script`` in rust-bitcoin's (hence Esplora's) notation; '' for an empty script."""
    parts: list[str] = []
    for op, data in _ops(script):
        if op == 0:
            parts.append("OP_0")
        elif data is None:
            parts.append(opcode_name(op))
        elif data is _Cut.LENGTH:
            parts.append("<unexpected end>")
        else:
            name = _PUSHDATA[op][0] if op in _PUSHDATA else f"OP_PUSHBYTES_{op}"
            parts.append(f"{name} <push past end>" if data is _Cut.DATA else f"{name} {data.hex()}")
    return " ".join(parts)


def pushes(script: bytes) -> list[bytes] | None:
    """The data of a push-only script (None if it holds any other opcode or is malformed).

    OP_1..OP_16 and OP_1NEGATE count as pushes (Core's ``IsPushOnly``).
    """
    out: list[bytes] = []
    for op, data in _ops(script):
        if isinstance(data, bytes):
            out.append(data)
        elif data is None and (op == 0x4F or 0x51 <= op <= 0x60):
            out.append(bytes([0x81]) if op == 0x4F else bytes([op - 0x50]))
        else:
            return None
    return out


def opcodes(script: bytes) -> list[int]:
    """The opcode bytes of ``script`` in order, push data skipped (stops at a malformed push)."""
    return [op for op, _ in _ops(script)]
