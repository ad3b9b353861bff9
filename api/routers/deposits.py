"""``/api/integration``: a user's BTC deposit address and deposit requests."""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated

from fastapi import APIRouter, Depends, Header, status

from api import deposit_requests
from api.auth.dependencies import AUTH_RESPONSES, UserAuth
from api.deps import SessionDep, StateDep
from api.schemas.deposits import DepositAccepted, DepositAddressOut, DepositRequest, PendingReceiptOut
from chains.bitcoin.setup import custody_descriptor
from chains.bitcoin.wallet import CustodyWallet
from db.queries import custody, deposit_addresses

router = APIRouter(prefix="/integration", tags=["deposits"])
IdempotencyKeyHeader = Annotated[str | None, Header(alias="Idempotency-Key", max_length=200)]
_POST_RESPONSES = {
    **AUTH_RESPONSES,
    409: {"description": "idempotency_key_reused, too_many_unconfirmed_claims"},
    422: {"description": "validation_error (btc_amount amount_not_integer / amount_out_of_range, …), below_minimum, "
                         "tx_not_found, no_output_to_address, amount_mismatch, stellar_address_missing|mismatch, "
                         "no_deposit_address"},
    503: {"description": "system_paused, chain_unavailable, temporal_unavailable"},
}


@lru_cache(maxsize=4)
def _wallet(descriptor: str, network: str) -> CustodyWallet:
    return CustodyWallet(descriptor, network)


def get_wallet(state: StateDep) -> CustodyWallet:
    """The custody wallet (public descriptor only: the API derives addresses, never signs)."""
    return _wallet(custody_descriptor(state.settings.bitcoin), state.settings.bitcoin.network)


WalletDep = Annotated[CustodyWallet, Depends(get_wallet)]


@router.get("/deposit-address", responses=AUTH_RESPONSES)
async def get_deposit_address(principal: UserAuth, session: SessionDep, state: StateDep, wallet: WalletDep) -> DepositAddressOut:
    """The caller's BTC deposit address (assigned on first request, then always the same), with
    the receipts there that are not a deposit yet."""
    row = await deposit_addresses.assign_deposit_address(
        session, user_id=principal.user.id, derive_address=wallet.receive_address
    )
    receipts = [PendingReceiptOut(outpoint=r.outpoint, amount_sats=r.value_sats, confirmed=r.state != "seen")
                for r in await custody.pending_receipts_of(session, principal.user.id)]
    return DepositAddressOut(
        address=row.address, network=state.settings.bitcoin.network, minimum_sats=state.settings.deposits.minimum_sats,
        pending_receipts=receipts, pending_receipts_sats=sum(r.amount_sats for r in receipts),
    )


@router.post("/bitcoin-deposit", status_code=status.HTTP_202_ACCEPTED, responses=_POST_RESPONSES)
async def request_deposit(
    body: DepositRequest, principal: UserAuth, session: SessionDep, state: StateDep, idempotency_key: IdempotencyKeyHeader = None
) -> DepositAccepted:
    """Credit the output ``btc_tx_hash:vout``; the same outpoint again answers the same operation.

    The claim is checked on the Bitcoin chain first: the transaction must be known (in a block or
    the mempool) and output ``vout`` must pay your deposit address exactly ``btc_amount`` sats.
    """
    recorded = await deposit_requests.record(session, state, principal.user, body, idempotency_key)
    await session.commit()  # the workflow reads the row: it must be visible before the start
    await deposit_requests.start(state, recorded.operation, displaced=recorded.displaced)
    return DepositAccepted.of(recorded.operation)
