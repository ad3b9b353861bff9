"""A user's iSTSi history from the books: posted transfers on their ``user_istsi`` account."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from domain import entries as e

_HISTORY = text(
    """
    SELECT t.id, t.code, t.seq, t.created_at,
           CASE WHEN t.credit_account = :key THEN t.amount ELSE -t.amount END AS amount,
           o.id AS operation_id, o.operation_type, o.status, o.stellar_tx_hash, o.btc_tx_hash, o.completed_at
    FROM ledger_transfers t
    LEFT JOIN operations o ON o.id = t.operation_id
    WHERE (t.debit_account = :key OR t.credit_account = :key) AND (t.flags & 2) = 0 AND (t.flags & 8) = 0
      AND (CAST(:before AS bigint) IS NULL OR t.seq < CAST(:before AS bigint))
    ORDER BY t.seq DESC
    LIMIT :limit
    """
)


async def balance_history(
    session: AsyncSession, *, user_id: uuid.UUID, before_seq: int | None, limit: int
) -> list[tuple[dict[str, Any], int]]:
    """Up to ``limit`` posted changes (newest first) as ``(entry, seq)``: pending transfers
    (holds, mints in progress) and voids are not changes of the balance."""
    rows = await session.execute(_HISTORY, {"key": e.user_istsi(user_id), "before": before_seq, "limit": limit})
    return [({
        "transfer_id": r.id, "kind": r.code, "amount": int(r.amount), "operation_id": r.operation_id,
        "operation_type": r.operation_type, "status": r.status, "stellar_tx_hash": r.stellar_tx_hash,
        "btc_tx_hash": r.btc_tx_hash, "created_at": r.created_at, "completed_at": r.completed_at,
    }, int(r.seq)) for r in rows.all()]
