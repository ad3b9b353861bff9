"""``getTransactions`` and ``getLedgers``: paging over the sandbox's closed ledgers, as stellar-rpc.

Requests take ``startLedger`` or ``pagination.cursor`` (never both), and ``pagination.limit``
(default 50, at most 200 for both methods, stellar-rpc's defaults). Validation failures are
JSON-RPC ``-32600`` with stellar-rpc's messages (go ``protocols/rpc``: ``IsValid``,
``ValidatePagination``); an unparsable cursor is ``-32602``.

* ``getTransactions``: the cursor is a TOID (``ledger << 32 | applicationOrder << 12 | 1``) of the
  last transaction returned; the next page starts right after it. When the pages run out, the
  cursor is the TOID of the last ledger scanned. ``createdAt`` and the ``…CloseTimestamp`` fields
  are JSON numbers here (unlike getTransaction's strings), as the real server sends them.
* ``getLedgers``: the cursor is the last returned ledger's sequence, as a string; ``headerXdr``
  is a ``LedgerHeaderHistoryEntry``, ``metadataXdr`` the ``LedgerCloseMeta``; ``ledgerCloseTime``
  is a string, the range close times numbers.

Source: stellar-rpc ``internal/methods/get_transactions.go``, ``get_ledgers.go``.
"""

from __future__ import annotations

from typing import Any

from stellar_sdk import xdr

from custody_sandbox.soroban import ledger_meta
from custody_sandbox.soroban.events_query import InvalidRequest
from custody_sandbox.soroban.store import ChainState, LedgerRecord, TxRecord

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


def toid(ledger: int, tx_order: int, op_index: int = 1) -> int:
    """SEP-35 total order id: 32 bits ledger, 20 bits transaction order, 12 bits operation."""
    return (ledger << 32) | (tx_order << 12) | op_index


def _range(chain: ChainState) -> tuple[LedgerRecord, LedgerRecord]:
    return chain.ledgers[0], chain.latest


def _pagination(params: dict) -> tuple[int, str, int]:
    start = int(params.get("startLedger") or 0)
    pagination = params.get("pagination") or {}
    cursor = str(pagination.get("cursor") or "")
    limit = int(pagination.get("limit") or 0)
    if limit > MAX_LIMIT:
        raise InvalidRequest(f"limit must not exceed {MAX_LIMIT}", code=-32600)
    if params.get("xdrFormat") not in (None, "", "base64"):
        raise InvalidRequest("the sandbox serves xdrFormat base64 only", code=-32602)
    return start, cursor, limit or DEFAULT_LIMIT


def _tx_json(chain: ChainState, record: TxRecord) -> dict[str, Any]:
    return {
        "status": record.status,
        "txHash": record.hash,
        "applicationOrder": record.application_order,
        "feeBump": False,
        "envelopeXdr": record.envelope_xdr,
        "resultXdr": record.result_xdr,
        "resultMetaXdr": record.result_meta_xdr,
        "diagnosticEventsXdr": record.diagnostic_events_xdr,
        "events": {"transactionEventsXdr": [], "contractEventsXdr": [record.contract_events_xdr]},
        "ledger": record.ledger,
        "createdAt": record.created_at,
    }


def get_transactions(chain: ChainState, params: dict) -> dict[str, Any]:
    """Answer one ``getTransactions`` request."""
    oldest, latest = _range(chain)
    start, cursor, limit = _pagination(params)
    if cursor:
        if start:
            raise InvalidRequest("startLedger and cursor cannot both be set", code=-32600)
        try:
            position = int(cursor)
        except ValueError as exc:
            raise InvalidRequest(f'strconv.ParseInt: parsing "{cursor}": invalid syntax') from exc
        first_ledger, first_order = position >> 32, ((position >> 12) & 0xFFFFF) + 1
    else:
        if not oldest.sequence <= start <= latest.sequence:
            raise InvalidRequest(
                f"start ledger must be between the oldest ledger: {oldest.sequence} and the latest ledger: "
                f"{latest.sequence} for this rpc instance", code=-32600,
            )
        first_ledger, first_order = start, 1
    page: list[dict[str, Any]] = []
    next_cursor = toid(0, 0, 0)
    by_sequence = {ledger.sequence: ledger for ledger in chain.ledgers}
    for sequence in range(max(first_ledger, oldest.sequence), latest.sequence + 1):
        ledger = by_sequence[sequence]
        next_cursor = toid(sequence, 0)
        orders = range(first_order if sequence == first_ledger else 1, len(ledger.tx_hashes) + 1)
        for order in orders:
            next_cursor = toid(sequence, order)
            page.append(_tx_json(chain, chain.txs[ledger.tx_hashes[order - 1]]))
            if len(page) >= limit:
                return _tx_page(page, oldest, latest, next_cursor)
    return _tx_page(page, oldest, latest, next_cursor)


def _tx_page(page: list, oldest: LedgerRecord, latest: LedgerRecord, cursor: int) -> dict[str, Any]:
    return {
        "transactions": page,
        "latestLedger": latest.sequence,
        "latestLedgerCloseTimestamp": latest.close_time,
        "oldestLedger": oldest.sequence,
        "oldestLedgerCloseTimestamp": oldest.close_time,
        "cursor": str(cursor),
    }


def ledger_json(chain: ChainState, ledger: LedgerRecord) -> dict[str, Any]:
    """One ``getLedgers`` item."""
    header = xdr.LedgerHeaderHistoryEntry.from_xdr(ledger.header_xdr)
    records = [chain.txs[h] for h in ledger.tx_hashes]
    return {
        "hash": ledger.hash,
        "sequence": ledger.sequence,
        "ledgerCloseTime": str(ledger.close_time),
        "headerXdr": ledger.header_xdr,
        "metadataXdr": ledger_meta.close_meta(header, records).to_xdr(),
    }


def get_ledgers(chain: ChainState, params: dict) -> dict[str, Any]:
    """Answer one ``getLedgers`` request."""
    oldest, latest = _range(chain)
    start, cursor, limit = _pagination(params)
    if cursor:
        if start:
            raise InvalidRequest(f"startLedger ({start}) and cursor ({cursor}) cannot both be set", code=-32600)
        if not cursor.isdigit():
            raise InvalidRequest(f'strconv.ParseUint: parsing "{cursor}": invalid syntax')
        start = int(cursor) + 1
        if not oldest.sequence <= start <= latest.sequence:
            raise InvalidRequest(
                f"cursor ('{cursor}') must be between the oldest ledger: {oldest.sequence} and the latest ledger: "
                f"{latest.sequence} for this rpc instance"
            )
    elif not oldest.sequence <= start <= latest.sequence:
        raise InvalidRequest(
            f"start ledger ({start}) must be between the oldest ledger: {oldest.sequence} and the latest ledger: "
            f"{latest.sequence} for this rpc instance", code=-32600,
        )
    first = start - oldest.sequence
    chosen = chain.ledgers[first : first + limit]
    next_cursor = str(chosen[-1].sequence) if chosen else (cursor or str(start - 1))
    return {
        "ledgers": [ledger_json(chain, ledger) for ledger in chosen],
        "latestLedger": latest.sequence,
        "latestLedgerCloseTime": latest.close_time,
        "oldestLedger": oldest.sequence,
        "oldestLedgerCloseTime": oldest.close_time,
        "cursor": next_cursor,
    }
