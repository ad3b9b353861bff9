"""Decode what the RPC says about one invocation into results or typed errors."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from stellar_sdk import StrKey, xdr
from stellar_sdk.soroban_rpc import GetTransactionResponse

from chains.soroban.errors import ContractError, HostError, SimulationError, SorobanError, TransactionFailed
from chains.soroban.scvals import to_python

_CONTRACT_RE = re.compile(r"Error\(Contract, #(\d+)\)")
_HOST_RE = re.compile(r"Error\((\w+), (\w+)\)")


@dataclass(frozen=True)
class TxEvent:
    """A contract event emitted by an applied transaction (decoded)."""

    contract_id: str
    topics: list[Any]
    value: Any


@dataclass(frozen=True)
class InvokeResult:
    """Outcome of a successful invocation.

    ``return_value`` is the raw SCVal; ``value`` its Python decoding.
    """

    tx_hash: str
    ledger: int
    return_value: xdr.SCVal
    events: list[TxEvent]
    envelope_xdr: str

    @property
    def value(self) -> Any:
        return to_python(self.return_value)


def simulation_error(message: str, contract: str) -> SorobanError:
    """Classify a ``simulateTransaction`` error string (nothing was submitted)."""
    found = _CONTRACT_RE.search(message)
    if found:
        return ContractError(contract, int(found.group(1)), stage="simulation")
    host = _HOST_RE.search(message)
    if host:
        return HostError(f"Error({host.group(1)}, {host.group(2)})", stage="simulation")
    return SimulationError(message.splitlines()[0] if message else "simulation failed")


def _meta_body(resp: GetTransactionResponse):
    meta = xdr.TransactionMeta.from_xdr(resp.result_meta_xdr)
    return meta.v4 or meta.v3


def decode_success(resp: GetTransactionResponse) -> tuple[xdr.SCVal, list[TxEvent]]:
    """Return value and contract events from a SUCCESS ``getTransaction``."""
    body = _meta_body(resp)
    ret = body.soroban_meta.return_value if body.soroban_meta else xdr.SCVal(type=xdr.SCValType.SCV_VOID)
    raw_events = (
        [e for op in body.operations for e in op.events]
        if isinstance(body, xdr.TransactionMetaV4)
        else list(body.soroban_meta.events if body.soroban_meta else [])
    )
    events = []
    for ev in raw_events:
        if ev.type != xdr.ContractEventType.CONTRACT or ev.contract_id is None:
            continue
        v0 = ev.body.v0
        events.append(
            TxEvent(
                contract_id=StrKey.encode_contract(ev.contract_id.contract_id.hash),
                topics=[to_python(t) for t in v0.topics],
                value=to_python(v0.data),
            )
        )
    return ret, events


def failure_error(resp: GetTransactionResponse, contract: str, tx_hash: str) -> SorobanError:
    """Classify a FAILED ``getTransaction``: the host's diagnostic ``error`` event decides."""
    diagnostics = list(resp.diagnostic_events_xdr or [])
    try:
        body = _meta_body(resp)
        diagnostics += [d.to_xdr() for d in (body.diagnostic_events or [])]
    except (ValueError, AttributeError):
        pass
    for raw in diagnostics:
        event = xdr.DiagnosticEvent.from_xdr(raw).event
        for topic in event.body.v0.topics:
            if topic.type != xdr.SCValType.SCV_ERROR:
                continue
            err = topic.error
            if err.type == xdr.SCErrorType.SCE_CONTRACT:
                return ContractError(contract, err.contract_code.uint32, stage="transaction", tx_hash=tx_hash)
            kind = err.type.name.removeprefix("SCE_").title().replace("_", "")
            code = err.code.name.removeprefix("SCEC_").title().replace("_", "")
            return HostError(f"Error({kind}, {code})", stage="transaction", tx_hash=tx_hash)
    result = xdr.TransactionResult.from_xdr(resp.result_xdr) if resp.result_xdr else None
    code = result.result.code.name if result else "unknown"
    return TransactionFailed(code, tx_hash=tx_hash)
