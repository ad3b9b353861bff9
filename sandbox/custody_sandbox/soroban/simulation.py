"""``simulateTransaction``: run the invocation on the next ledger without committing.

Returns the footprint the call really touched, the auth entries it needs (recording mode
when the operation carries none), the return value, the contract events as diagnostic
events and the minimum resource fee (stroops), in the real RPC's JSON shape.
"""

from __future__ import annotations

from stellar_sdk import NoneMemo, xdr

from custody_sandbox.soroban.execution import Outcome, diagnostic_contract_events, execute
from custody_sandbox.soroban.host import LedgerInfo
from custody_sandbox.soroban.store import ChainState
from custody_sandbox.soroban.txcheck import TxView, min_resource_fee
from custody_sandbox.soroban.xdrs import diagnostic_error_event

BYTES_PER_ENTRY = 256  # modelled disk bytes per touched entry


def simulate(
    state: ChainState, tx: TxView, ledger: LedgerInfo, *, auth_mode: str | None, upgraded_auth: bool
) -> dict:
    """Simulate ``tx`` in ``ledger`` (the next ledger) and build the JSON result."""
    latest = state.latest.sequence
    op = tx.invoke
    if op is None:
        return {"error": "transaction must contain exactly one InvokeHostFunction operation", "latestLedger": latest}
    if not isinstance(tx.envelope.transaction.memo, NoneMemo):
        return {"error": "memos are not supported with Soroban transactions", "latestLedger": latest}
    record = auth_mode in ("record", "record_allow_nonroot") or (auth_mode is None and not op.auth)
    outcome = execute(state, op, tx.op_source, ledger, record_auth=record, upgraded_auth=upgraded_auth)
    if not outcome.ok:
        events = [diagnostic_error_event(outcome.error.sc_error(), outcome.error.render()).to_xdr()]
        return {"error": outcome.error.render(), "events": events, "latestLedger": latest}
    return _success(outcome, op, record, latest)


def _success(outcome: Outcome, op, record: bool, latest: int) -> dict:
    host = outcome.host
    read_only = list(host.read_keys.values())
    read_write = list(host.write_keys.values())
    instructions = outcome.instructions
    fee = min_resource_fee(len(read_only), len(read_write), instructions)
    data = xdr.SorobanTransactionData(
        ext=xdr.SorobanTransactionDataExt(0),
        resources=xdr.SorobanResources(
            footprint=xdr.LedgerFootprint(read_only=read_only, read_write=read_write),
            instructions=xdr.Uint32(instructions),
            disk_read_bytes=xdr.Uint32(BYTES_PER_ENTRY * len(read_only)),
            write_bytes=xdr.Uint32(BYTES_PER_ENTRY * len(read_write)),
        ),
        resource_fee=xdr.Int64(fee),
    )
    auth = host.auth.recorded if record else list(op.auth or [])
    return {
        "transactionData": data.to_xdr(),
        "minResourceFee": str(fee),
        "events": [e.to_xdr() for e in diagnostic_contract_events(outcome)],
        "results": [{"auth": [a.to_xdr() for a in auth], "xdr": outcome.return_value.to_xdr()}],
        "cost": {"cpuInsns": str(instructions), "memBytes": str(BYTES_PER_ENTRY * 8)},
        "latestLedger": latest,
    }
