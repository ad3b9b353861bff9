"""``/api/tokens``: the caller's iSTSi balances (projection, or live from the token contract) and
their history."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from api.auth.dependencies import AUTH_RESPONSES, UserAuth
from api.deps import SessionDep, StateDep
from api.pagination import DEFAULT_LIMIT, MAX_LIMIT, decode_seq_cursor, encode_seq_cursor
from api.schemas.tokens import BalanceOut, BalancesOut, HistoryEntry, HistoryPage
from db.queries import balances
from db.queries.history import balance_history
from services import tokens

router = APIRouter(prefix="/tokens", tags=["tokens"])


@router.get("/balances", responses={
    **AUTH_RESPONSES, 409: {"description": "stellar_account_not_found (fund the account first)"},
    422: {"description": "stellar_address_missing"}, 503: {"description": "chain_unavailable"},
})
async def get_balances(
    principal: UserAuth, session: SessionDep, state: StateDep,
    source: Annotated[Literal["projection", "chain"], Query(description="projection (Postgres) or chain (live read)")] = "projection",
) -> BalancesOut:
    """iSTSi balances in base units; ``source=chain`` reads ``istsi_token.balance`` live."""
    user = principal.user
    if source == "chain":
        address, amount = await tokens.chain_balance_of(state, user)
        token = state.settings.soroban.contracts.istsi_token
        return BalancesOut(source="chain", stellar_address=address,
                           balances=[BalanceOut(token_address=token, balance=amount, reserved_balance=0, available=amount)])
    rows = await balances.list_for_user(session, user_id=user.id)
    return BalancesOut(
        source="projection", stellar_address=user.stellar_address,
        balances=[
            BalanceOut(token_address=r.token_address, balance=r.balance, reserved_balance=r.reserved_balance,
                       available=r.balance - r.reserved_balance)
            for r in rows
        ],
    )


@router.get("/history", responses={**AUTH_RESPONSES, 422: {"description": "invalid_cursor"}})
async def get_history(
    principal: UserAuth, session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Items per page")] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=64, description="next_cursor of the previous page")] = None,
) -> HistoryPage:
    """Every posted change of the caller's iSTSi in the books, newest first, with the operation
    it belongs to (amounts signed, base units)."""
    before = decode_seq_cursor(cursor) if cursor else None
    rows = await balance_history(session, user_id=principal.user.id, before_seq=before, limit=limit + 1)
    shown = rows[:limit]
    return HistoryPage(
        items=[HistoryEntry(**entry) for entry, _ in shown],
        next_cursor=encode_seq_cursor(shown[-1][1]) if len(rows) > limit and shown else None,
    )
