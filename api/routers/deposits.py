"""``/api/integration``: a user's BTC deposit address and deposit requests."""

from __future__ import annotations

from fastapi import APIRouter, status

from api.auth.dependencies import AUTH_RESPONSES, UserAuth
from api.deps import IdempotencyKeyHeader, SessionDep, StateDep
from api.schemas.deposits import DepositAccepted, DepositAddressOut, DepositRequest, PendingReceiptOut
from services import deposits

router = APIRouter(prefix="/integration", tags=["deposits"])
_POST_RESPONSES = {
    **AUTH_RESPONSES,
    409: {"description": "idempotency_key_reused, too_many_unconfirmed_claims"},
    422: {"description": "validation_error (btc_amount amount_not_integer / amount_out_of_range, …), below_minimum, "
                         "tx_not_found, no_output_to_address, amount_mismatch, stellar_address_missing|mismatch, "
                         "no_deposit_address"},
    503: {"description": "system_paused, chain_unavailable, temporal_unavailable"},
}


@router.get("/deposit-address", responses=AUTH_RESPONSES)
async def get_deposit_address(principal: UserAuth, session: SessionDep, state: StateDep) -> DepositAddressOut:
    """The caller's BTC deposit address (assigned on first request, then always the same), with
    the receipts there that are not a deposit yet."""
    found = await deposits.deposit_address(session, state, principal.user)
    receipts = [PendingReceiptOut(outpoint=r.outpoint, amount_sats=r.amount_sats, confirmed=r.confirmed)
                for r in found.pending_receipts]
    return DepositAddressOut(
        address=found.address, network=found.network, minimum_sats=found.minimum_sats,
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
    claim = deposits.DepositClaim(body.btc_tx_hash, body.vout, body.btc_amount, body.stellar_address)
    return DepositAccepted.of(await deposits.request(session, state, principal.user, claim, idempotency_key))
