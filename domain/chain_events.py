"""What a contract event the engine did not originate means for the books (pure).

Source: docs/CONTRACTS.md event shapes; SEP-41 token events (``("transfer", from, to) → amount``,
``("burn", from) → amount``, ``("mint", to) → amount``); since protocol 23 (CAP-67) a transfer's
data may be a map with ``amount`` (muxed destinations), so both shapes are read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

TOKEN = "istsi_token"
ROUTER = "integration_router"


@dataclass(frozen=True)
class TokensMoved:
    """``amount_units`` of iSTSi went from Stellar account ``source`` to ``destination``."""

    source: str
    destination: str
    amount_units: int


@dataclass(frozen=True)
class TokensBurned:
    """``holder`` burned ``amount_units`` of iSTSi directly (SEP-41 ``burn``)."""

    holder: str
    amount_units: int


@dataclass(frozen=True)
class TokensMinted:
    """``amount_units`` were minted to ``holder`` by a transaction the engine did not sign: only
    the router mints, so this is iSTSi without backing (reconciliation reports it)."""

    holder: str
    amount_units: int


@dataclass(frozen=True)
class PauseSeen:
    """The router was paused by someone other than the engine."""

    caller: str
    reason: str


Effect = TokensMoved | TokensBurned | TokensMinted | PauseSeen


def _amount(value: Any) -> int | None:
    if isinstance(value, dict):
        value = value.get("amount")
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def effects_of(contract: str, name: str | None, topics: list[Any], value: Any) -> list[Effect]:
    """The projection changes of one non-engine event (empty when it changes nothing we track)."""
    if contract == TOKEN and name in ("transfer", "burn", "mint"):
        amount = _amount(value)
        if amount is None or len(topics) < 2:
            return []
        if name == "transfer" and len(topics) >= 3:
            return [TokensMoved(str(topics[1]), str(topics[2]), amount)]
        if name == "burn":
            return [TokensBurned(str(topics[1]), amount)]
        if name == "mint":
            return [TokensMinted(str(topics[1]), amount)]
    if contract == ROUTER and name == "pause" and len(topics) >= 2:
        return [PauseSeen(str(topics[1]), value if isinstance(value, str) else "")]
    return []


def behind_retention(last_ledger: int, oldest_ledger: int) -> bool:
    """True when ledgers after ``last_ledger`` have already left the RPC's retention window
    (``oldest_ledger`` is the first it still serves), so events may be lost."""
    return last_ledger + 1 < oldest_ledger
