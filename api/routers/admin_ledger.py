"""``/api/admin/ledger``: the books for operators (read-only): accounts and transfers."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from api.auth.dependencies import ROLE_RESPONSES, OperatorAuth
from api.deps import SessionDep
from api.pagination import decode_seq_cursor, encode_seq_cursor
from api.schemas.ledger import LedgerAccountOut, LedgerAccountsPage, LedgerTransferOut, LedgerTransfersPage
from db import ledger
from domain.chart import AccountCode, balance
from domain.errors import Refused
from domain.ledger import LedgerId
from domain.transfer_phase import phase_of

router = APIRouter(prefix="/admin/ledger", tags=["admin"])


@router.get("/accounts", responses={**ROLE_RESPONSES, 422: {"description": "unknown_account_code"}})
async def list_accounts(
    operator: OperatorAuth, session: SessionDep,
    code: Annotated[str | None, Query(max_length=64, description="Only accounts of this kind (custody_btc, user_istsi …)")] = None,
    after: Annotated[str | None, Query(max_length=200, description="next_cursor of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> LedgerAccountsPage:
    """Accounts in key order with their counters and balances."""
    if code is not None and code not in {c.value for c in AccountCode}:
        raise Refused(f"no account kind {code!r}", code="unknown_account_code", extra={"field": "code"})
    rows = await ledger.list_accounts(session, code=code, after_key=after, limit=limit + 1)
    shown = rows[:limit]
    return LedgerAccountsPage(
        items=[LedgerAccountOut(
            key=a.key, ledger=LedgerId(a.ledger).name.lower(), code=a.key.split(":")[0], user_id=user_id,
            debits_pending=a.debits_pending, debits_posted=a.debits_posted, credits_pending=a.credits_pending,
            credits_posted=a.credits_posted, balance=balance(a)) for a, user_id in shown],
        next_cursor=shown[-1][0].key if len(rows) > limit and shown else None,
    )


@router.get("/transfers", responses={**ROLE_RESPONSES, 422: {"description": "filter_required, invalid_cursor"}})
async def list_transfers(
    operator: OperatorAuth, session: SessionDep,
    operation_id: Annotated[uuid.UUID | None, Query(description="Every transfer of one operation")] = None,
    account: Annotated[str | None, Query(max_length=200, description="Transfers debiting or crediting this account")] = None,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> LedgerTransfersPage:
    """Transfers of an operation (journal order) or of an account (newest first)."""
    if operation_id is None and account is None:
        raise Refused("give operation_id or account", code="filter_required", extra={"field": "operation_id"})
    if operation_id is not None:
        stored, more = await ledger.transfers_of_operation(session, operation_id), False
    else:
        before = decode_seq_cursor(cursor) if cursor else None
        stored = await ledger.transfers_of_account(session, account or "", before_seq=before, limit=limit + 1)
        more, stored = len(stored) > limit, stored[:limit]
    return LedgerTransfersPage(
        items=[LedgerTransferOut(
            id=s.transfer.id, seq=s.seq, ledger=LedgerId(s.transfer.ledger).name.lower(), code=s.transfer.code,
            debit_account=s.transfer.debit_account, credit_account=s.transfer.credit_account, amount=s.transfer.amount,
            phase=phase_of(s.transfer.flags).value, pending_id=s.transfer.pending_id,
            operation_id=uuid.UUID(s.transfer.operation_id) if s.transfer.operation_id else None,
            created_at=s.created_at,  # type: ignore[arg-type]
        ) for s in stored],
        next_cursor=encode_seq_cursor(stored[-1].seq) if more and stored else None,
    )
