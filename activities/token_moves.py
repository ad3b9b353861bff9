"""Booking iSTSi that holders moved on Stellar themselves (events the engine did not sign).

The chain already moved the tokens; the books follow, in the event monitor's transaction, and
never refuse for good (a refused event would stall the monitor):

* a transfer between holders moves the liability (``user_istsi`` of engine users,
  ``istsi_external`` for everyone else);
* a holder's own ``burn`` takes unbacked tokens first (no BTC moves), then backed ones: the
  supply shrinks and their BTC backing goes to ``suspense_btc``;
* a mint the engine did not sign is booked to its holder *unbacked* (``istsi_unbacked``, held
  at once: ``domain.entries.outside_mint``); ``istsi_supply`` excludes it, so reconciliation
  reports the supply difference as an emergency, and nobody can redeem it through the engine.

When the source's posted balance lacks the tokens: a user whose Stellar account received them
before registering takes them from ``istsi_external``; a user with a mint on its way to Stellar
has an engine posting still to land (:class:`ProjectionBehind`, retried); anything else is
booked unbacked at the destination, with an alert. When the source's holds are in the way, reorg and unbacked holds travel
with the tokens (``domain.entries.hold_moved``) and withdrawal holds of withdrawals that have not
started burning are voided (their burn then refuses; the burn step checks its hold under the
same operation lock).
"""

from __future__ import annotations

import logging
import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from activities.alerts import raise_alert
from activities.custody_books import void_unburned_withdrawal_holds
from db import ledger
from db.queries import books as books_figures
from domain import entries as e
from domain.chain_events import TokensBurned, TokensMinted, TokensMoved
from domain.chart import AccountCode, TransferCode, parse_key
from domain.ledger import Transfer

log = logging.getLogger(__name__)

class ProjectionBehind(Exception):
    """A debit the books cannot follow yet: the user's own mint has not been posted."""


def holder_account(address: str, users: dict[str, uuid.UUID]) -> str:
    """The iSTSi account of Stellar account ``address``: its engine user's, or ``istsi_external``."""
    return e.user_istsi(users[address]) if address in users else e.EXTERNAL


async def book_effect(session: AsyncSession, event_id: str, effect, users: dict[str, uuid.UUID], *,
                      token_address: str) -> bool:
    """Post what one token effect means; True when something was booked.

    Raises:
        ProjectionBehind: the source lacks the tokens while its owner has a mint in progress.
    """
    if isinstance(effect, TokensMinted):
        holder = holder_account(effect.holder, users)
        raise_alert("istsi_minted_outside_the_engine", "iSTSi minted by a transaction the engine did not sign",
                    event_id=event_id, holder=effect.holder, units=effect.amount_units)
        await ledger.post(session, e.outside_mint(event_id, holder, effect.amount_units), token_address=token_address)
        return True
    if isinstance(effect, TokensMoved):
        source, destination = holder_account(effect.source, users), holder_account(effect.destination, users)
        if source == destination:
            return False  # between two outside holders (or to oneself): nothing the engine owes changes
        way = await _clear_way(session, event_id, source, destination, effect.amount_units)
        booked = effect.amount_units - way.unbooked
        moved = e.chain_transfer(event_id, source, destination, booked) if booked > 0 else []
        arrived = e.outside_mint(f"{event_id}:unbooked", destination, way.unbooked) if way.unbooked else []
        await ledger.post(session, [*way.before, *moved, *way.after, *arrived], token_address=token_address)
        return True
    if isinstance(effect, TokensBurned):
        source = holder_account(effect.holder, users)
        way = await _clear_way(session, event_id, source, None, effect.amount_units)
        backed = effect.amount_units - way.unbacked_burned - way.unbooked
        burn = e.chain_burn(event_id, source, backed) if backed > 0 else []
        await ledger.post(session, [*way.before, *burn], token_address=token_address)
        return bool(way.before or burn)
    return False


class _Way:
    """What to post around a chain move of ``source``'s tokens: transfers ``before`` and
    ``after`` it, the units of a burn booked against ``istsi_unbacked`` already, and the
    ``unbooked`` units the books cannot place (minted outside the engine unseen)."""

    def __init__(self) -> None:
        self.before: list[Transfer] = []
        self.after: list[Transfer] = []
        self.unbacked_burned = 0
        self.unbooked = 0


async def _clear_way(session: AsyncSession, event_id: str, source: str, destination: str | None, amount: int) -> _Way:
    """Make ``amount`` units movable out of ``source`` (``destination`` None: a burn).

    Raises:
        ProjectionBehind: an engine posting on ``source`` is about to land (a mint being
            minted, or a burn holding the tokens); the event is booked on a later try.
    """
    way = _Way()
    account = await ledger.account(session, source)
    holds = await ledger.open_pending(session, debit_account=source)
    if destination is None:  # a burn takes unbacked tokens first: they are the ones without BTC
        for hold in [h for h in holds if h.code == TransferCode.UNBACKED_HOLD]:
            burned = min(hold.amount, amount - way.unbacked_burned)
            if burned <= 0:
                break
            way.before += e.unbacked_burn(event_id, hold, burned)
            way.unbacked_burned += burned
    # what the posted balance lacks (the unbacked burn took its units out of it already)
    lacking = amount - account.credit_balance
    from_external = 0
    if lacking > 0:
        from_external, way.unbooked = await _lacking(session, event_id, source, lacking)
        if from_external:
            way.before += e.registered_late(event_id, source, from_external)
    # units to take from the posted balance beyond what is available: held ones
    shortfall = amount - way.unbacked_burned - way.unbooked - account.credit_available - from_external
    travelling = [h for h in holds if h.code == TransferCode.REORG_HOLD]
    if destination is not None:
        travelling += [h for h in holds if h.code == TransferCode.UNBACKED_HOLD]
    for hold in travelling:
        if shortfall <= 0:
            break
        moved = min(hold.amount, shortfall)
        way.before += e.hold_moved(hold, event_id, moved_units=moved)
        if destination is not None:  # a burn takes the held tokens out of the supply with it
            way.after += e.hold_arrived(hold, event_id, moved_units=moved, to_account=destination)
        shortfall -= moved
    if shortfall > 0 and parse_key(source)[0] == AccountCode.USER_ISTSI:
        voids = await void_unburned_withdrawal_holds(session, source, shortfall, reason=f"event:{event_id}")
        way.before += voids
        shortfall -= sum(t.amount for t in voids)
    if shortfall > 0:
        # held by withdrawals already burning: that burn now fails on chain and releases its hold
        raise ProjectionBehind(f"{source}: holds of withdrawals already burning cover {shortfall} of the debit")
    return way


async def _lacking(session: AsyncSession, event_id: str, source: str, lacking: int) -> tuple[int, int]:
    """``source`` moved ``lacking`` units more than its posted balance: ``(from istsi_external,
    unbooked)``. A user's Stellar account may have received them before its owner registered
    (booked to ``istsi_external`` then); what the books cannot place at all is unbooked.

    Raises:
        ProjectionBehind: the user has a mint on its way to Stellar, not posted yet.
    """
    if parse_key(source)[0] != AccountCode.USER_ISTSI:
        return 0, _unbooked(event_id, source, lacking)
    if await books_figures.mint_in_flight(session, source):
        raise ProjectionBehind(f"{source}: a debit exceeds the posted balance by {lacking} while a mint lands")
    external = await ledger.account(session, e.EXTERNAL)
    from_external = min(lacking, max(external.credit_available, 0))
    return from_external, _unbooked(event_id, source, lacking - from_external)


def _unbooked(event_id: str, source: str, units: int) -> int:
    if units > 0:
        raise_alert("istsi_unbooked_tokens_moved", "tokens the books cannot place moved on Stellar; booked unbacked",
                    event_id=event_id, account=source, units=units)
    return max(units, 0)
