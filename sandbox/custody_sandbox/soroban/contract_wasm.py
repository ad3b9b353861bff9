"""A WASM module per sandbox contract, carrying the contract's real interface in its custom
sections, and the ledger's ``ContractCodeEntry`` for it.

Soroban clients that work from a contract's spec (js-stellar-sdk ``contract.Client.from``,
``rpc.Server.getContractWasmByContractId``, stellar-cli bindings) fetch the instance entry,
follow its executable's wasm hash to the ``CONTRACT_CODE`` entry and read three custom sections:

* ``contractspecv0``: the interface as a stream of XDR ``SCSpecEntry`` values: one
  ``SC_SPEC_ENTRY_FUNCTION_V0`` per exported function (names, parameter names and types, the
  return type; nothing for ``()``), a ``SC_SPEC_ENTRY_UDT_STRUCT_V0`` per struct a function
  returns or takes, and the contract's ``Error`` enum (``SC_SPEC_ENTRY_UDT_ERROR_ENUM_V0``) with
  docs/CONTRACTS.md's codes and names;
* ``contractenvmetav0``: ``SCEnvMetaEntry`` interface version (the sandbox's protocol);
* ``contractmetav0``: ``SCMetaEntry`` key/value pairs.

The module has no code section: clients only read the spec, and the sandbox runs the Python
models of ``contracts/``, which the spec is generated from (so the two cannot drift apart).
Its hash is ``sha256(module)``, the contract instance's ``wasm_hash``.
Source: WebAssembly core spec (binary format, custom sections); soroban-sdk ``contractspecv0``
and stellar-xdr ``Stellar-contract-spec.x``, ``Stellar-contract-meta.x``, ``Stellar-contract-env-meta.x``.
"""

from __future__ import annotations

import hashlib
import inspect
from functools import cache

from stellar_sdk import xdr

from custody_sandbox.soroban import codec
from custody_sandbox.soroban.contracts import MODELS, ContractModel
from custody_sandbox.soroban.xdrs import PROTOCOL_VERSION

T = xdr.SCSpecType
_SIMPLE = {
    "u32": T.SC_SPEC_TYPE_U32, "u64": T.SC_SPEC_TYPE_U64, "i128": T.SC_SPEC_TYPE_I128, "bool": T.SC_SPEC_TYPE_BOOL,
    "void": T.SC_SPEC_TYPE_VOID, "String": T.SC_SPEC_TYPE_STRING, "Symbol": T.SC_SPEC_TYPE_SYMBOL,
    "Bytes": T.SC_SPEC_TYPE_BYTES, "Address": T.SC_SPEC_TYPE_ADDRESS,
}


def _type(c: codec.Codec) -> xdr.SCSpecTypeDef:
    if c.name == "BytesN<32>":
        return xdr.SCSpecTypeDef(type=T.SC_SPEC_TYPE_BYTES_N, bytes_n=xdr.SCSpecTypeBytesN(xdr.Uint32(32)))
    if isinstance(c, codec.Struct):
        return xdr.SCSpecTypeDef(type=T.SC_SPEC_TYPE_UDT, udt=xdr.SCSpecTypeUDT(name=c.name.encode()))
    if isinstance(c, codec.Tuple):
        return xdr.SCSpecTypeDef(type=T.SC_SPEC_TYPE_TUPLE, tuple=xdr.SCSpecTypeTuple([_type(i) for i in c.items]))
    return xdr.SCSpecTypeDef(type=_SIMPLE[c.name])


def _struct_entry(c: codec.Struct) -> xdr.SCSpecEntry:
    fields = [xdr.SCSpecUDTStructFieldV0(doc=b"", name=name.encode(), type=_type(f)) for name, f in c.fields]
    return xdr.SCSpecEntry(
        kind=xdr.SCSpecEntryKind.SC_SPEC_ENTRY_UDT_STRUCT_V0,
        udt_struct_v0=xdr.SCSpecUDTStructV0(doc=b"", lib=b"", name=c.name.encode(), fields=fields),
    )


def spec_entries(model: type[ContractModel]) -> list[xdr.SCSpecEntry]:
    """The ``contractspecv0`` entries of a contract model, functions in name order."""
    entries: list[xdr.SCSpecEntry] = []
    structs: dict[str, codec.Struct] = {}
    for fn_name in sorted(model._exports):
        attr, params, returns = model._exports[fn_name]
        # Python names a Rust ``from`` parameter ``from_``: the spec carries the contract's name.
        names = [p.rstrip("_") for p in inspect.signature(getattr(model, attr)).parameters if p != "self"]
        for c in (*params, returns):
            if isinstance(c, codec.Struct):
                structs[c.name] = c
        inputs = [
            xdr.SCSpecFunctionInputV0(doc=b"", name=name.encode(), type=_type(c))
            for name, c in zip(names, params, strict=True)
        ]
        outputs = [] if returns is codec.VOID else [_type(returns)]
        doc = (inspect.getdoc(getattr(model, attr)) or "").split("\n")[0].encode()[:1024]
        entries.append(
            xdr.SCSpecEntry(
                kind=xdr.SCSpecEntryKind.SC_SPEC_ENTRY_FUNCTION_V0,
                function_v0=xdr.SCSpecFunctionV0(doc=doc, name=xdr.SCSymbol(fn_name.encode()), inputs=inputs, outputs=outputs),
            )
        )
    entries += [_struct_entry(structs[name]) for name in sorted(structs)]
    cases = [
        xdr.SCSpecUDTErrorEnumCaseV0(doc=b"", name=name.encode(), value=xdr.Uint32(code))
        for code, name in sorted(model.ERRORS.items())
    ]
    entries.append(
        xdr.SCSpecEntry(
            kind=xdr.SCSpecEntryKind.SC_SPEC_ENTRY_UDT_ERROR_ENUM_V0,
            udt_error_enum_v0=xdr.SCSpecUDTErrorEnumV0(doc=b"", lib=b"", name=b"Error", cases=cases),
        )
    )
    return entries


def _leb128(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _custom_section(name: str, payload: bytes) -> bytes:
    body = _leb128(len(name)) + name.encode() + payload
    return b"\x00" + _leb128(len(body)) + body


@cache
def wasm_module(name: str) -> bytes:
    """The WASM module of contract ``name`` (a docs/CONTRACTS.md name)."""
    model = MODELS[name]
    spec = b"".join(e.to_xdr_bytes() for e in spec_entries(model))
    env_meta = xdr.SCEnvMetaEntry(
        kind=xdr.SCEnvMetaKind.SC_ENV_META_KIND_INTERFACE_VERSION,
        interface_version=xdr.SCEnvMetaEntryInterfaceVersion(protocol=xdr.Uint32(PROTOCOL_VERSION), pre_release=xdr.Uint32(0)),
    ).to_xdr_bytes()
    meta = b"".join(
        xdr.SCMetaEntry(kind=xdr.SCMetaKind.SC_META_V0, v0=xdr.SCMetaV0(key=k.encode(), val=v.encode())).to_xdr_bytes()
        for k, v in (("name", name), ("implementation", "custody-sandbox python model"))
    )
    return (
        b"\x00asm\x01\x00\x00\x00"
        + _custom_section("contractenvmetav0", env_meta)
        + _custom_section("contractmetav0", meta)
        + _custom_section("contractspecv0", spec)
    )


def wasm_hash(name: str) -> bytes:
    """``sha256`` of the module: the instance's executable hash and the code entry's key."""
    return hashlib.sha256(wasm_module(name)).digest()


def code_by_hash(digest: bytes) -> bytes | None:
    """The module whose hash is ``digest``, if it is one of the four contracts'."""
    for name in MODELS:
        if wasm_hash(name) == digest:
            return wasm_module(name)
    return None


def code_entry(code: bytes) -> xdr.LedgerEntryData:
    """The ``CONTRACT_CODE`` ledger entry data of a module."""
    return xdr.LedgerEntryData(
        type=xdr.LedgerEntryType.CONTRACT_CODE,
        contract_code=xdr.ContractCodeEntry(
            ext=xdr.ContractCodeEntryExt(0), hash=xdr.Hash(hashlib.sha256(code).digest()), code=code
        ),
    )
