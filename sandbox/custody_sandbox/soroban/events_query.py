"""``getEvents``: ledger-range or cursor paging over stored contract events, with filters.

Rules follow stellar-rpc: send ``startLedger`` (with optional exclusive ``endLedger``) or
``pagination.cursor``, never both; at most 5 filters, 5 contract ids and 5 topic filters
each, 1–4 segments per topic filter; ``*`` matches one segment, a trailing ``**`` any
number; one request scans at most 10,000 ledgers; ``limit`` defaults to 100, max 10,000.
The returned ``cursor`` is the last event's id when the page is full, else the end of the
scanned window, so a client looping on ``cursor`` sees every event exactly once, in order.
"""

from __future__ import annotations

import bisect
from datetime import UTC, datetime

from stellar_sdk import xdr

from custody_sandbox.soroban.store import ChainState, EventRecord

MAX_LEDGER_SCAN = 10_000
DEFAULT_LIMIT = 100
MAX_LIMIT = 10_000


class InvalidRequest(ValueError):
    """A getEvents request the real server rejects; carries the JSON-RPC error code."""

    def __init__(self, message: str, code: int = -32602) -> None:
        super().__init__(message)
        self.code = code


def cursor_at(ledger: int) -> str:
    """The cursor that sorts just before every event of ``ledger``."""
    return f"{ledger << 32:019d}-{0:010d}"


def rfc3339(unix_seconds: int) -> str:
    return datetime.fromtimestamp(unix_seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _normalize(segment: str) -> str:
    if segment in ("*", "**"):
        return segment
    try:
        return xdr.SCVal.from_xdr(segment).to_xdr()
    except Exception as exc:  # any decoding failure is a bad request
        raise InvalidRequest(f"invalid topic segment: {segment}") from exc


def _topic_matches(pattern: list[str], topic: list[str]) -> bool:
    if pattern and pattern[-1] == "**":
        head = pattern[:-1]
        if len(topic) < len(head):
            return False
    else:
        head = pattern
        if len(topic) != len(head):
            return False
    return all(p == "*" or p == t for p, t in zip(head, topic, strict=False))


def _compile_filters(filters: list[dict]) -> list[dict]:
    if len(filters) > 5:
        raise InvalidRequest("maximum 5 filters per request")
    compiled = []
    for f in filters:
        types = {t.strip() for t in (f.get("type") or "").split(",") if t.strip()}
        if types - {"contract", "system", "diagnostic"}:
            raise InvalidRequest("filter type must be system, contract or diagnostic")
        contract_ids = list(f.get("contractIds") or [])
        topics = [list(t) for t in (f.get("topics") or [])]
        if len(contract_ids) > 5 or len(topics) > 5:
            raise InvalidRequest("maximum 5 contract IDs and 5 topic filters per filter")
        for t in topics:
            if not 1 <= len(t) <= 5 or "**" in t[:-1]:
                raise InvalidRequest("topic filter must have 1-4 segments (a trailing ** allowed)")
        compiled.append({"types": types, "contract_ids": set(contract_ids), "topics": [[_normalize(s) for s in t] for t in topics]})
    return compiled


def _matches(event: EventRecord, filters: list[dict]) -> bool:
    if not filters:
        return True
    for f in filters:
        if f["types"] and "contract" not in f["types"]:
            continue
        if f["contract_ids"] and event.contract_id not in f["contract_ids"]:
            continue
        if f["topics"] and not any(_topic_matches(p, event.topic) for p in f["topics"]):
            continue
        return True
    return False


def query_events(chain: ChainState, params: dict) -> dict:
    """Answer one getEvents request. Raises InvalidRequest like the real server."""
    oldest, latest = chain.ledgers[0], chain.latest
    start = params.get("startLedger")
    end = params.get("endLedger")
    pagination = params.get("pagination") or {}
    cursor = pagination.get("cursor")
    limit = pagination.get("limit") or DEFAULT_LIMIT
    if limit > MAX_LIMIT:
        raise InvalidRequest(f"limit must not exceed {MAX_LIMIT}")
    if cursor and (start or end):
        raise InvalidRequest("ledger ranges and cursor cannot both be set")
    if cursor:
        try:
            window_start = int(cursor.split("-")[0]) >> 32
        except ValueError as exc:
            raise InvalidRequest("invalid cursor") from exc
        after = cursor
    else:
        if not start:
            raise InvalidRequest("startLedger must be positive")
        if start < oldest.sequence or start > latest.sequence:
            raise InvalidRequest(
                f"startLedger must be between the oldest ledger: {oldest.sequence} and the latest ledger: "
                f"{latest.sequence} for this rpc instance.",
                code=-32600,
            )
        window_start, after = start, None
    window_end = min(window_start + MAX_LEDGER_SCAN, latest.sequence + 1)
    if end:
        window_end = min(window_end, end)
    filters = _compile_filters(list(params.get("filters") or []))
    ids = [e.id for e in chain.events]
    lo = bisect.bisect_right(ids, after) if after else bisect.bisect_left(ids, cursor_at(window_start))
    page: list[EventRecord] = []
    for event in chain.events[lo:]:
        if event.ledger >= window_end or len(page) >= limit:
            break
        if _matches(event, filters):
            page.append(event)
    next_cursor = page[-1].id if len(page) >= limit else cursor_at(max(window_end, window_start))
    return {
        "events": [_render(e) for e in page],
        "cursor": next_cursor,
        "latestLedger": latest.sequence,
        "oldestLedger": oldest.sequence,
        "latestLedgerCloseTime": str(latest.close_time),
        "oldestLedgerCloseTime": str(oldest.close_time),
    }


def _render(e: EventRecord) -> dict:
    return {
        "type": "contract",
        "ledger": e.ledger,
        "ledgerClosedAt": rfc3339(e.closed_at),
        "contractId": e.contract_id,
        "id": e.id,
        "operationIndex": e.op_index,
        "transactionIndex": e.tx_index,
        "txHash": e.tx_hash,
        "inSuccessfulContractCall": True,
        "topic": e.topic,
        "value": e.value,
    }
