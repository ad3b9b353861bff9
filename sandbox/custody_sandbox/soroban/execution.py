"""Run one ``InvokeHostFunction`` operation against the chain state (simulate or apply).

``execute`` builds a :class:`Host` over the persisted contract data and returns an
:class:`Outcome`; ``commit`` writes a successful outcome's storage and nonces back into the
state. Failure never commits anything (Soroban's all-or-nothing semantics).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from stellar_sdk import Address, Network, xdr
from stellar_sdk.operation import InvokeHostFunction

from custody_sandbox.soroban.auth import AuthManager
from custody_sandbox.soroban.contracts import MODELS, ContractModel
from custody_sandbox.soroban.host import Host, LedgerInfo
from custody_sandbox.soroban.host_errors import HostFailure, HostTrap
from custody_sandbox.soroban.store import ChainState, DataRecord

# Modelled CPU cost: a flat base per invocation plus a step per storage access.
BASE_INSTRUCTIONS = 2_000_000
INSTRUCTIONS_PER_ENTRY = 50_000


@dataclass
class Outcome:
    """Result of one host invocation: a return value, or the failure that trapped it."""

    host: Host
    return_value: xdr.SCVal | None = None
    error: HostFailure | None = None
    diagnostics: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def instructions(self) -> int:
        touched = len(self.host.read_keys) + len(self.host.write_keys)
        return BASE_INSTRUCTIONS + INSTRUCTIONS_PER_ENTRY * touched


def contract_class(state: ChainState):
    """Return a lookup ``C… address -> model class`` over the deployed contracts."""

    def lookup(address: str) -> type[ContractModel] | None:
        name = state.contracts.get(address)
        return MODELS.get(name) if name else None

    return lookup


def execute(
    state: ChainState,
    op: InvokeHostFunction,
    source_account: str,
    ledger: LedgerInfo,
    *,
    record_auth: bool,
    footprint: tuple[set[str], set[str]] | None = None,
    upgraded_auth: bool = False,
) -> Outcome:
    """Run ``op`` as ``source_account`` in ``ledger``.

    Args:
        record_auth: record the auth entries the call needs (simulation without entries)
            instead of enforcing ``op.auth``.
        footprint: declared read-only / read-write ledger keys (base64) to enforce on apply.
    """
    auth = AuthManager(
        record=record_auth,
        entries=list(op.auth or []),
        source_account=source_account,
        network_id=Network(state.network_passphrase).network_id(),
        ledger_seq=ledger.sequence,
        nonce_used=lambda addr, nonce: f"{addr}:{nonce}" in state.nonces,
        account_exists=lambda addr: addr in state.accounts,
        upgraded=upgraded_auth,
    )

    def read_data(contract: str, key_b64: str) -> str | None:
        rec = state.data.get(key_b64)
        return rec.val if rec else None

    host = Host(read_data=read_data, contract_class=contract_class(state), auth=auth, ledger=ledger, footprint=footprint)
    outcome = Outcome(host=host)
    fn = op.host_function
    if fn.type != xdr.HostFunctionType.HOST_FUNCTION_TYPE_INVOKE_CONTRACT:
        outcome.error = HostTrap("Value", "InvalidInput", "only contract invocation is supported by the sandbox")
        return outcome
    call = fn.invoke_contract
    contract = Address.from_xdr_sc_address(call.contract_address).address
    name = call.function_name.sc_symbol.decode()
    if name.startswith("__"):
        # Reserved names (``__constructor``, ``__check_auth``) are host-only entry points.
        outcome.error = HostTrap("Context", "InvalidAction", f"{name} cannot be invoked directly")
        return outcome
    try:
        outcome.return_value = host.invoke(contract, name, list(call.args))
    except HostFailure as err:
        outcome.error = err
    return outcome


def commit(state: ChainState, host: Host, ledger_seq: int) -> None:
    """Persist a successful invocation's writes and consumed auth nonces into ``state``."""
    for (contract, key_b64), val in host.writes().items():
        key = xdr.LedgerKey.from_xdr(key_b64).contract_data.key
        state.data[key_b64] = DataRecord(contract=contract, key=key.to_xdr(), val=val, last_modified=ledger_seq)
    for address, nonce in host.auth.consumed_nonces:
        state.nonces.add(f"{address}:{nonce}")


def diagnostic_contract_events(outcome: Outcome) -> list[xdr.DiagnosticEvent]:
    """The contract events of a successful call wrapped as diagnostic events (simulation)."""
    return [xdr.DiagnosticEvent(in_successful_contract_call=outcome.ok, event=e) for e in outcome.host.events]


