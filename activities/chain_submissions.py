"""Exactly-once Soroban submissions for activities.

``submit_once(key, invoke)`` runs one business step on chain at most once, however often the
activity is retried or the worker dies:

* a ``succeeded`` row returns its stored result and sends nothing;
* a ``signed`` row (crash after storing, maybe after sending) re-drives the *stored* envelope
  with ``SorobanClient.resume``: same bytes, same hash, resolved by lookup;
* otherwise ``invoke(store)`` builds a new transaction, and ``store`` persists the signed
  envelope in its own committed transaction before the first send. When the client uses
  channel accounts, the same transaction binds the envelope to its leased channel, which
  stays bound until the envelope is resolved by hash (``activities.channel_pool``); a lease
  lost before the store sends nothing (``ChannelLeaseLost``, safe to retry).

A transaction that ended FAILED on chain changed nothing, so its row is marked ``failed`` and a
later retry may build a new one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from activities.channel_pool import store_envelope
from chains.soroban.client import SignedEnvelope, SorobanClient, StoreCallback
from chains.soroban.errors import ContractError, TransactionFailed
from chains.soroban.outcomes import InvokeResult
from chains.soroban.scvals import to_python
from db.queries import chain_submissions as rows

Invoker = Callable[[StoreCallback], Awaitable[InvokeResult]]


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, int | str | bool) or value is None:
        return value
    return str(value)


def result_record(result: InvokeResult) -> dict[str, Any]:
    """What is kept of a succeeded transaction: hash, ledger, decoded return value and events."""
    return {
        "tx_hash": result.tx_hash,
        "ledger": result.ledger,
        "value": _jsonable(to_python(result.return_value)),
        "events": [
            {"contract_id": e.contract_id, "topics": _jsonable(e.topics), "value": _jsonable(e.value)}
            for e in result.events
        ],
    }


class ChainSubmitter:
    """Runs Soroban calls exactly once per idempotency key (see module docstring)."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], client: SorobanClient):
        self.sessions = sessions
        self.client = client

    async def submit_once(self, key: str, *, contract: str, function: str, invoke: Invoker) -> dict[str, Any]:
        """Return the stored result record of step ``key``, running ``invoke`` only if needed.

        Raises:
            ContractError: the contract refused (simulation or a FAILED transaction).
            SorobanError: any other client error; ``retry_safe`` says whether to retry.
        """
        row = await rows.get_by_key(self.sessions, idempotency_key=key)
        if row is not None and row.status == "succeeded":
            assert row.result is not None
            return row.result

        async def store(signed: SignedEnvelope) -> None:
            await store_envelope(self.sessions, key=key, contract=contract, function=function, signed=signed)

        try:
            if row is not None and row.status == "signed" and row.envelope_xdr:
                result = await self.client.resume(row.envelope_xdr, store=store)
            else:
                result = await invoke(store)
        except (ContractError, TransactionFailed) as exc:
            if exc.tx_hash is not None:  # included and failed on chain: final, nothing applied
                await rows.mark_final(
                    self.sessions, idempotency_key=key, status="failed",
                    result={"tx_hash": exc.tx_hash, "error": type(exc).__name__, "code": getattr(exc, "code", None)},
                )
            raise
        record = result_record(result)
        await rows.mark_final(self.sessions, idempotency_key=key, status="succeeded", result=record)
        return record
