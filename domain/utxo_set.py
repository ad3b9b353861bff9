"""Rules of the custody UTXO set: output states, where a receipt is booked, what a change of
state on the chain means for the books (pure: no I/O).

States (``custody_utxos.state``)::

    seen ──▶ confirmed ──▶ reserved (a payout chose it) ──▶ spent
      ▲  ╲       │                                          (the chain spent it)
      │   ╲      ▼
      └──── vanished (not in a block and not in the mempool)

    superseded: the change of a payout version that a later version replaced; it exists only
    if that version confirms (settlement then makes it confirmed), so it is never counted, and
    two versions' change is never counted at once.

An output is *owned* while seen, confirmed or reserved. ``held_in`` is the ledger account its
receipt credited; once its deposit is credited it moves to ``istsi_backing``. The decisions
below follow docs/DESIGN.md §3 "money in flight is not a discrepancy": an uncredited output that leaves
the chain is reversed out of the account that held it; a credited one puts the user's credit
on hold until it confirms again, and after the reorg window it is written off into suspense.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from domain import entries as e


class UtxoState(StrEnum):
    SEEN = "seen"
    CONFIRMED = "confirmed"
    RESERVED = "reserved"
    SPENT = "spent"
    VANISHED = "vanished"
    SUPERSEDED = "superseded"


OWNED = (UtxoState.SEEN, UtxoState.CONFIRMED, UtxoState.RESERVED)
RECEIVE_BRANCH, CHANGE_BRANCH = 0, 1


class ChainView(StrEnum):
    """What the chain source says about an output's transaction now."""

    CONFIRMED = "confirmed"
    MEMPOOL = "mempool"
    MISSING = "missing"


def receipt_account(*, branch: int, owner_user_id: str | None, claiming_operation_id: str | None) -> str:
    """The account a newly seen custody output is booked against.

    * claimed by a deposit operation → ``deposits_in_flight``;
    * paid to a user's deposit address, not claimed (yet) → the user's ``pending_receipts``;
    * anything else (a change address outside a payout, an address never handed out) →
      ``unattributed_receipts``.
    """
    if claiming_operation_id is not None:
        return e.IN_FLIGHT
    if branch == RECEIVE_BRANCH and owner_user_id is not None:
        return e.pending_receipts(owner_user_id)
    return e.UNATTRIBUTED


class Move(StrEnum):
    """What a row's new chain view does to the books."""

    NOTHING = "nothing"
    CONFIRM = "confirm"
    """It confirmed (or re-confirmed at another height): update the row only."""
    UNCONFIRM = "unconfirm"
    """Its block left the chain but it may be in the mempool: row back to seen."""
    VANISH = "vanish"
    """An uncredited output left the chain: reverse its receipt."""
    RETURN = "return"
    """A vanished uncredited output is back: book its receipt again (next epoch)."""
    HOLD = "hold"
    """A credited deposit's output is no longer confirmed: hold the user's credit."""
    RELEASE = "release"
    """A held deposit's output confirmed again: release the hold."""
    WRITE_OFF = "write_off"
    """A held deposit stayed off the chain for the reorg window: reverse into suspense."""
    DROP = "drop"
    """Opening custody left the chain: nobody's credit to hold, nothing booked (reconciliation
    reports the missing BTC until an operator books it)."""


@dataclass(frozen=True)
class RowView:
    """The parts of a ``custody_utxos`` row a decision needs."""

    state: UtxoState
    credited: bool
    """``held_in`` is ``istsi_backing``: its deposit is credited (or it is opening custody)."""
    held: bool
    """Its credit is on hold after a reorg (``custody_utxos.reorg_held``)."""
    change: bool
    """A payout's change output (booked with the payout, never as a receipt)."""
    missing_since_tip: int | None
    """Tip height when the output was first seen off the chain (None while on it)."""
    attributable: bool = True
    """A deposit operation owns it (opening custody and change have no one whose credit to hold)."""


def decide(row: RowView, view: ChainView, *, tip_height: int, reorg_window_blocks: int) -> Move:
    """The move for ``row`` given what the chain says now (``view``).

    A credited deposit's output is followed in every state but ``spent`` and ``superseded``: one
    a payout has reserved (or spent, until the scanner undid the spend) is as unbacked off the
    chain as any. Superseded change (of a replaced payout version) is the payout flow's.
    """
    if row.state in (UtxoState.SPENT, UtxoState.SUPERSEDED):
        return Move.NOTHING
    if row.credited and row.attributable and not row.change:
        if view == ChainView.CONFIRMED:
            return Move.RELEASE if row.held else Move.CONFIRM
        if not row.held:
            return Move.HOLD
        window_passed = row.missing_since_tip is not None and tip_height - row.missing_since_tip >= reorg_window_blocks
        return Move.WRITE_OFF if window_passed and view == ChainView.MISSING else Move.NOTHING
    if row.state == UtxoState.RESERVED:
        return Move.CONFIRM if view == ChainView.CONFIRMED else Move.NOTHING
    uncredited = not row.credited and not row.change
    if view == ChainView.CONFIRMED:
        return Move.RETURN if row.state == UtxoState.VANISHED and uncredited else Move.CONFIRM
    if view == ChainView.MISSING:
        if row.state == UtxoState.VANISHED:
            return Move.NOTHING
        if uncredited:
            return Move.VANISH
        return Move.UNCONFIRM if row.change else Move.DROP
    return Move.UNCONFIRM if row.state == UtxoState.CONFIRMED else Move.NOTHING
