"""The sandbox's Soroban host: runs contract models over a storage overlay.

One ``Host`` executes one host function (one ``invokeHostFunction`` operation, or one
simulation of it). It gives contract models:

- storage reads and writes through an overlay, recording every touched ledger key so a
  simulation can return a real footprint, and, when a footprint is given (apply), trapping
  on any key outside it (``Error(Storage, ExceededLimit)``) as the real host does;
- ``require_auth`` via :class:`AuthManager`, plus the implicit authorization of a contract
  by its direct caller;
- cross-contract calls and contract events.

Nothing is written to the sandbox state until the caller commits ``host.writes()``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from stellar_sdk import Address, xdr

from custody_sandbox.soroban.auth import AuthManager
from custody_sandbox.soroban.host_errors import ContractError, HostTrap

if TYPE_CHECKING:
    from custody_sandbox.soroban.contracts.base import ContractModel

MAX_CALL_DEPTH = 16


def data_key(contract: str, key: xdr.SCVal) -> xdr.LedgerKey:
    """The persistent contract-data ledger key of ``key`` in ``contract``."""
    return xdr.LedgerKey(
        type=xdr.LedgerEntryType.CONTRACT_DATA,
        contract_data=xdr.LedgerKeyContractData(
            contract=Address(contract).to_xdr_sc_address(),
            key=key,
            durability=xdr.ContractDataDurability.PERSISTENT,
        ),
    )


def instance_key(contract: str) -> xdr.LedgerKey:
    """The ledger key of a contract's instance entry."""
    return data_key(contract, xdr.SCVal(type=xdr.SCValType.SCV_LEDGER_KEY_CONTRACT_INSTANCE))


@dataclass(frozen=True)
class LedgerInfo:
    """The ledger an invocation runs in: sequence number and close time (unix seconds)."""

    sequence: int
    close_time: int


@dataclass
class _Frame:
    contract: str
    fn: str
    args: list[xdr.SCVal]
    caller: str | None  # the calling contract, None for the root frame


class Host:
    """Run one contract invocation.

    Args:
        read_data: returns the stored SCVal (base64 XDR) for ``(contract, key_b64)`` or None.
        contract_class: returns the model class deployed at a ``C…`` address, or None.
        auth: the authorization manager for this invocation.
        ledger: the ledger the invocation runs in.
        footprint: when given, the transaction's declared footprint (base64 LedgerKeys).
    """

    def __init__(
        self,
        *,
        read_data: Callable[[str, str], str | None],
        contract_class: Callable[[str], type[ContractModel] | None],
        auth: AuthManager,
        ledger: LedgerInfo,
        footprint: tuple[set[str], set[str]] | None = None,
    ) -> None:
        self._read_data = read_data
        self._contract_class = contract_class
        self.auth = auth
        self.ledger = ledger
        self._footprint = footprint
        self._overlay: dict[tuple[str, str], str] = {}
        self.read_keys: dict[str, xdr.LedgerKey] = {}
        self.write_keys: dict[str, xdr.LedgerKey] = {}
        self.events: list[xdr.ContractEvent] = []
        self._frames: list[_Frame] = []

    # ---- invocation -------------------------------------------------------------------
    def invoke(self, contract: str, fn: str, args: list[xdr.SCVal]) -> xdr.SCVal:
        """Run the root call ``contract.fn(args)`` and return its SCVal result.

        Raises:
            ContractError: the contract failed with its own code.
            HostTrap: any other host error.
        """
        return self._call(None, contract, fn, args)

    def call(self, caller: str, contract: str, fn: str, args: list[xdr.SCVal]) -> xdr.SCVal:
        """Cross-contract call from ``caller``; a callee's failure propagates as raised."""
        return self._call(caller, contract, fn, args)

    def _call(self, caller: str | None, contract: str, fn: str, args: list[xdr.SCVal]) -> xdr.SCVal:
        if len(self._frames) >= MAX_CALL_DEPTH:
            raise HostTrap("Context", "ExceededLimit", "call depth")
        cls = self._contract_class(contract)
        if cls is None:
            raise HostTrap("Storage", "MissingValue", f"no contract at {contract}")
        self._touch_read(instance_key(contract))
        self._frames.append(_Frame(contract, fn, list(args), caller))
        try:
            return cls(self, contract).dispatch(fn, args)
        except ContractError as err:
            err.contract_id = err.contract_id or contract
            raise
        finally:
            self._frames.pop()

    # ---- auth -------------------------------------------------------------------------
    def require_auth(self, address: str) -> None:
        """``address.require_auth()`` inside the current frame.

        Raises:
            HostTrap: ``Error(Auth, InvalidAction)`` when not authorized.
        """
        frame = self._frames[-1]
        if frame.caller is not None:
            if address == frame.caller:
                return  # a contract implicitly authorizes the calls it makes itself
            raise HostTrap("Auth", "InvalidAction", "non-root authorization is not supported")
        self.auth.require(address, frame.contract, frame.fn, frame.args)

    # ---- storage ----------------------------------------------------------------------
    def get(self, contract: str, key: xdr.SCVal) -> xdr.SCVal | None:
        """Read a persistent value; None when absent."""
        lk = data_key(contract, key)
        k = self._touch_read(lk)
        raw = self._overlay.get((contract, k)) if (contract, k) in self._overlay else self._read_data(contract, k)
        return xdr.SCVal.from_xdr(raw) if raw else None

    def put(self, contract: str, key: xdr.SCVal, value: xdr.SCVal) -> None:
        """Write a persistent value."""
        lk = data_key(contract, key)
        k = lk.to_xdr()
        if self._footprint is not None and k not in self._footprint[1]:
            raise HostTrap("Storage", "ExceededLimit", "write outside the footprint")
        self.write_keys[k] = lk
        self.read_keys.pop(k, None)
        self._overlay[(contract, k)] = value.to_xdr()

    def _touch_read(self, lk: xdr.LedgerKey) -> str:
        k = lk.to_xdr()
        if self._footprint is not None and k not in self._footprint[0] | self._footprint[1]:
            raise HostTrap("Storage", "ExceededLimit", "read outside the footprint")
        if k not in self.write_keys:
            self.read_keys[k] = lk
        return k

    def writes(self) -> dict[tuple[str, str], str]:
        """Committed-to-be writes: ``(contract, ledger_key_b64) -> SCVal base64``."""
        return dict(self._overlay)

    # ---- events -----------------------------------------------------------------------
    def emit(self, contract: str, topics: list[xdr.SCVal], data: xdr.SCVal) -> None:
        """Record a contract event (``env.events().publish``)."""
        self.events.append(
            xdr.ContractEvent(
                ext=xdr.ExtensionPoint(0),
                contract_id=Address(contract).to_xdr_sc_address().contract_id,
                type=xdr.ContractEventType.CONTRACT,
                body=xdr.ContractEventBody(0, v0=xdr.ContractEventV0(topics=topics, data=data)),
            )
        )
