"""Contract events: page ``getEvents`` by ledger or cursor and decode topics and values.

Event ids (``%019d-%010d``, TOID then index) sort in chain order and are the dedupe key;
``EventPage.cursor`` is what to persist for the next call. Only ``contract`` events are
requested: diagnostic events must never be credited.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from stellar_sdk import SorobanServerAsync, scval, xdr
from stellar_sdk.soroban_rpc import EventFilter, EventFilterType

from chains.soroban.rpc_errors import rpc_call
from chains.soroban.scvals import to_python

MAX_FILTER_IDS = 5


@dataclass(frozen=True)
class ContractEvent:
    """One contract event; topics and value decoded by :func:`to_python`."""

    id: str
    ledger: int
    ledger_closed_at: datetime
    contract_id: str
    tx_hash: str
    topics: list[Any]
    value: Any

    @property
    def name(self) -> str | None:
        """The first topic when it is a symbol (``"deposit"``, ``"transfer"`` …)."""
        return self.topics[0] if self.topics and isinstance(self.topics[0], str) else None


@dataclass(frozen=True)
class EventPage:
    events: list[ContractEvent]
    cursor: str
    latest_ledger: int


def topic_filter(*segments: str | xdr.SCVal) -> list[str]:
    """Build a topic filter: symbols for names (``"deposit"``), ``"*"`` / ``"**"`` wildcards,
    or explicit SCVals (e.g. ``scval.to_address(user)``)."""
    out = []
    for seg in segments:
        if isinstance(seg, xdr.SCVal):
            out.append(seg.to_xdr())
        elif seg in ("*", "**"):
            out.append(seg)
        else:
            out.append(scval.to_symbol(seg).to_xdr())
    return out


async def fetch_events(
    server: SorobanServerAsync,
    *,
    contract_ids: Sequence[str],
    topics: Sequence[list[str]] | None = None,
    start_ledger: int | None = None,
    cursor: str | None = None,
    limit: int = 100,
) -> EventPage:
    """Fetch one page of contract events, from ``start_ledger`` or after ``cursor`` (not both).

    Raises:
        ValueError: both or neither of start_ledger / cursor, or too many contract ids.
        SorobanUnavailable, SorobanError: the RPC failed (see ``rpc_errors``).
    """
    if (start_ledger is None) == (cursor is None):
        raise ValueError("give exactly one of start_ledger or cursor")
    if len(contract_ids) > MAX_FILTER_IDS:
        raise ValueError("at most 5 contract ids per filter")
    flt = EventFilter(
        event_type=EventFilterType.CONTRACT, contract_ids=list(contract_ids), topics=list(topics) if topics else None
    )
    resp = await rpc_call(
        server.get_events, start_ledger=start_ledger, filters=[flt], cursor=cursor, limit=limit
    )
    events = [
        ContractEvent(
            id=e.id,
            ledger=e.ledger,
            ledger_closed_at=e.ledger_close_at,
            contract_id=e.contract_id,
            tx_hash=e.transaction_hash,
            topics=[to_python(t) for t in e.topic],
            value=to_python(e.value),
        )
        for e in resp.events
    ]
    return EventPage(events=events, cursor=resp.cursor, latest_ledger=resp.latest_ledger)


async def iter_events(
    server: SorobanServerAsync,
    *,
    contract_ids: Sequence[str],
    topics: Sequence[list[str]] | None = None,
    start_ledger: int | None = None,
    cursor: str | None = None,
    limit: int = 100,
) -> AsyncIterator[tuple[ContractEvent, str]]:
    """Yield ``(event, cursor_after_page)`` until the stream reaches the latest ledger.

    Pages on the returned cursor; stops at the first non-full page (caught up).
    """
    page = await fetch_events(
        server, contract_ids=contract_ids, topics=topics, start_ledger=start_ledger, cursor=cursor, limit=limit
    )
    while True:
        for event in page.events:
            yield event, page.cursor
        if len(page.events) < limit:
            return
        page = await fetch_events(server, contract_ids=contract_ids, topics=topics, cursor=page.cursor, limit=limit)
