"""Base class and decorator for the sandbox's Python models of the docs/CONTRACTS.md contracts.

A model method decorated with ``@contractfn`` is exported under its own name (or ``name=``);
its declared parameter codecs decode the SCVal arguments and its ``returns`` codec encodes
the result, so wrong argument types or counts trap like a real contract's spec would.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from stellar_sdk import xdr

from custody_sandbox.soroban.codec import VOID, Codec, storage_key
from custody_sandbox.soroban.host import Host
from custody_sandbox.soroban.host_errors import ContractError, HostTrap


def contractfn(*params: Codec, returns: Codec = VOID, name: str | None = None) -> Callable:
    """Export a model method as a contract function with typed parameters."""

    def wrap(method: Callable) -> Callable:
        method._contract_spec = (name or method.__name__, params, returns)  # type: ignore[attr-defined]
        return method

    return wrap


class ContractModel:
    """One contract instance at ``address`` running inside ``host``.

    Subclasses set ``NAME`` (the docs/CONTRACTS.md name) and ``ERRORS`` (code -> error name).
    """

    NAME: ClassVar[str] = ""
    ERRORS: ClassVar[dict[int, str]] = {}
    _exports: ClassVar[dict[str, tuple[str, tuple[Codec, ...], Codec]]]

    def __init_subclass__(cls) -> None:
        super().__init_subclass__()
        cls._exports = {}
        for attr in dir(cls):
            spec = getattr(getattr(cls, attr), "_contract_spec", None)
            if spec is not None:
                cls._exports[spec[0]] = (attr, spec[1], spec[2])

    def __init__(self, host: Host, address: str) -> None:
        self.host = host
        self.address = address

    def dispatch(self, fn: str, args: list[xdr.SCVal]) -> xdr.SCVal:
        """Decode ``args``, run the exported function ``fn`` and encode its result.

        Raises:
            HostTrap: unknown function, wrong argument count or types.
            ContractError: the function failed with a contract error.
        """
        export = self._exports.get(fn)
        if export is None:
            raise HostTrap("WasmVm", "MissingValue", f"no function {fn!r}")
        attr, params, returns = export
        if len(args) != len(params):
            raise HostTrap("WasmVm", "UnexpectedSize", f"{fn} takes {len(params)} args")
        values = [codec.dec(arg) for codec, arg in zip(params, args, strict=True)]
        return returns.enc(getattr(self, attr)(*values))

    # ---- helpers for models -----------------------------------------------------------
    def fail(self, code: int) -> None:
        """Abort with ``Error(Contract, #code)``."""
        raise ContractError(code, self.address)

    def require_auth(self, address: str) -> None:
        self.host.require_auth(address)

    def load(self, codec: Codec, name: str, *parts: Any, default: Any = None) -> Any:
        """Read the stored value under key ``(name, *parts)``; ``default`` when absent."""
        val = self.host.get(self.address, storage_key(name, *parts))
        return default if val is None else codec.dec(val)

    def store(self, codec: Codec, value: Any, name: str, *parts: Any) -> None:
        """Write ``value`` under key ``(name, *parts)``."""
        self.host.put(self.address, storage_key(name, *parts), codec.enc(value))

    def emit(self, topics: list[xdr.SCVal], data: xdr.SCVal) -> None:
        self.host.emit(self.address, topics, data)

    def call(self, contract: str, fn: str, args: list[xdr.SCVal]) -> xdr.SCVal:
        """Call another contract as this contract (which thereby authorizes the call)."""
        return self.host.call(self.address, contract, fn, args)

    @property
    def ledger_sequence(self) -> int:
        return self.host.ledger.sequence

    @property
    def now(self) -> int:
        """Ledger close time in unix seconds."""
        return self.host.ledger.close_time
