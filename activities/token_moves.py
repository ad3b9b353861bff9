"""Booking iSTSi that holders moved on Stellar themselves (events the engine did not sign).

The chain already moved the tokens; the books follow, in the event monitor's transaction:

* a transfer between holders moves the liability (``user_istsi`` of engine users,
  ``istsi_external`` for everyone else);
* a holder's own ``burn`` shrinks the supply, and its BTC backing goes to ``suspense_btc``;
* a mint the engine did not sign is *not* booked: only the router mints, so it is iSTSi without
  backing, and reconciliation reports the supply difference as an emergency.

When the source's holds are in the way (the chain proved the tokens are gone), a reorg hold
travels with the tokens (``domain.entries.reorg_hold_moved``) and withdrawal holds of
withdrawals that have not started burning are voided (their burn step then refuses; the burn
step checks its hold under the same operation lock). A debit larger than the posted balance
means the engine's own posting has not landed yet: :class:`ProjectionBehind`, retried.
"""

from __future__ import annotations

import logging
import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from activities.alerts import raise_alert
from db import ledger
from db.queries import operations
from domain import entries as e
from domain.chain_events import TokensBurned, TokensMinted, TokensMoved
from domain.chart import AccountCode, TransferCode, parse_key
from domain.ledger import Transfer
from domain.operations import OperationStage

log = logging.getLogger(__name__)
#: Stages of a withdrawal whose hold may still be voided (the burn has not been attempted).
BEFORE_BURN = (OperationStage.RECEIVED, OperationStage.KYC_CHECK, OperationStage.RESERVING,
               OperationStage.AWAITING_APPROVAL, OperationStage.NEEDS_ATTENTION)


class ProjectionBehind(Exception):
    """A debit larger than the posted balance: the engine's own update has not landed yet."""


def holder_account(address: str, users: dict[str, uuid.UUID]) -> str:
    """The iSTSi account of Stellar account ``address``: its engine user's, or ``istsi_external``."""
    return e.user_istsi(users[address]) if address in users else e.EXTERNAL


async def book_effect(session: AsyncSession, event_id: str, effect, users: dict[str, uuid.UUID], *,
                      token_address: str) -> bool:
    """Post what one token effect means; True when something was booked.

    Raises:
        ProjectionBehind: the source's posted balance is smaller than the debit.
    """
    if isinstance(effect, TokensMinted):
        raise_alert("istsi_minted_outside_the_engine", "iSTSi minted by a transaction the engine did not sign",
                    event_id=event_id, holder=effect.holder, units=effect.amount_units)
        return False
    if isinstance(effect, TokensMoved):
        source, destination = holder_account(effect.source, users), holder_account(effect.destination, users)
        if source == destination:
            return False  # between two outside holders (or to oneself): nothing the engine owes changes
        chain = await _clear_way(session, event_id, source, destination, effect.amount_units)
        moved = e.chain_transfer(event_id, source, destination, effect.amount_units)
        await ledger.post(session, [*chain.before, *moved, *chain.after], token_address=token_address)
        return True
    if isinstance(effect, TokensBurned):
        source = holder_account(effect.holder, users)
        chain = await _clear_way(session, event_id, source, None, effect.amount_units)
        await ledger.post(session, [*chain.before, *e.chain_burn(event_id, source, effect.amount_units)],
                          token_address=token_address)
        return True
    return False


class _Way:
    def __init__(self) -> None:
        self.before: list[Transfer] = []
        self.after: list[Transfer] = []


async def _clear_way(session: AsyncSession, event_id: str, source: str, destination: str | None, amount: int) -> _Way:
    way = _Way()
    if parse_key(source)[0] != AccountCode.USER_ISTSI:
        return way
    account = await ledger.account(session, source)
    if account.credit_balance < amount:
        raise ProjectionBehind(f"{source}: a debit of {amount} exceeds the posted balance {account.credit_balance}")
    shortfall = amount - account.credit_available
    if shortfall <= 0:
        return way
    holds = await ledger.open_pending(session, debit_account=source)
    for hold in [h for h in holds if h.code == TransferCode.REORG_HOLD]:
        if shortfall <= 0:
            break
        moved = min(hold.amount, shortfall)
        way.before += e.reorg_hold_moved(hold, event_id, moved_units=moved)
        if destination is not None:  # a burn takes the held tokens out of the supply with it
            way.after += e.reorg_hold_arrived(hold, event_id, moved_units=moved, to_account=destination)
        shortfall -= moved
    for hold in reversed([h for h in holds if h.code == TransferCode.WITHDRAWAL_HOLD]):
        if shortfall <= 0:
            break
        op = await operations.get_by_id(session, operation_id=uuid.UUID(hold.operation_id or ""), for_update=True)
        if op is None or op.stage not in BEFORE_BURN:
            continue
        way.before.append(e.resolve(hold, post=False))
        op.meta = {**(op.meta or {}), "hold_lost": event_id}
        shortfall -= hold.amount
        log.warning("withdrawal %s: its held tokens left on chain (event %s); the hold is void", op.id, event_id)
    if shortfall > 0:
        raise ProjectionBehind(f"{source}: holds of withdrawals already burning cover {shortfall} of the debit")
    return way
