"""``/api/tokens``: the caller's iSTSi balances (projection, or live from the token contract) and
their history."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from stellar_sdk import Keypair

from api.auth.dependencies import AUTH_RESPONSES, UserAuth
from api.deps import SessionDep, StateDep
from api.errors import ApiError
from api.pagination import CursorPage, PageDep, build_page
from api.schemas.tokens import BalanceOut, BalancesOut, HistoryEntry
from api.state import AppState
from chains.soroban import IstsiToken, SorobanClient, SorobanError
from chains.soroban.errors import SourceAccountMissing
from chains.soroban.setup import contract_addresses
from db.queries import balances, operations

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
        if not user.stellar_address:
            raise ApiError(422, "stellar_address_missing", "set a Stellar address on your profile first")
        amount = await _chain_balance(state, user.stellar_address)
        token = state.settings.soroban.contracts.istsi_token
        return BalancesOut(source="chain", stellar_address=user.stellar_address,
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


@router.get("/history", responses=AUTH_RESPONSES)
async def get_history(principal: UserAuth, session: SessionDep, page: PageDep) -> CursorPage[HistoryEntry]:
    """Operations that changed the caller's balance, newest first (amounts signed)."""
    rows = await operations.list_balance_history(session, user_id=principal.user.id, after=page.after, limit=page.limit)
    return build_page(rows, page, HistoryEntry.of)


async def _chain_balance(state: AppState, stellar_address: str) -> int:
    """Simulate ``istsi_token.balance`` with the user's own account as the (never signing) source."""
    s = state.settings.soroban
    reader = SorobanClient(
        rpc_url=s.rpc_url, network_passphrase=s.passphrase(), operator=Keypair.from_public_key(stellar_address),
        contracts=contract_addresses(s), server=state.stellar_rpc,
    )
    try:
        return await IstsiToken(reader, s.contracts.istsi_token).balance(stellar_address)
    except SourceAccountMissing as exc:
        raise ApiError(
            409, "stellar_account_not_found",
            f"your Stellar account {stellar_address} does not exist on the network yet: fund it with at least "
            f"1 XLM ({_funding_hint(state, stellar_address)}), then ask again; the live read uses it as the source "
            "of a simulated call (source=projection needs no account)",
        ) from exc
    except SorobanError as exc:
        raise ApiError(503, "chain_unavailable", "the Stellar RPC could not read the token contract; ask again in a minute, "
                       "or use source=projection") from exc


def _funding_hint(state: AppState, address: str) -> str:
    """Where to fund ``address`` on the configured network (friendbot on test networks)."""
    network = state.settings.soroban.network
    if network == "standalone":
        return f"sandbox friendbot: GET {state.settings.soroban.rpc_url.rstrip('/')}/friendbot?addr={address}"
    if network in ("testnet", "futurenet"):
        return f"{network} friendbot: GET https://friendbot{'-futurenet' if network == 'futurenet' else ''}.stellar.org/?addr={address}"
    return "send XLM to it from an exchange or another account"
