"""What a contract event the engine did not originate means for its projections (pure).

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
class BalanceDelta:
    """Add ``delta_units`` (negative for a debit) to the balance of Stellar account ``address``."""

    address: str
    delta_units: int


@dataclass(frozen=True)
class PauseSeen:
    """The router was paused by someone other than the engine."""

    caller: str
    reason: str


Effect = BalanceDelta | PauseSeen


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
            return [BalanceDelta(str(topics[1]), -amount), BalanceDelta(str(topics[2]), amount)]
        if name == "burn":
            return [BalanceDelta(str(topics[1]), -amount)]
        if name == "mint":
            return [BalanceDelta(str(topics[1]), amount)]
    if contract == ROUTER and name == "pause" and len(topics) >= 2:
        return [PauseSeen(str(topics[1]), value if isinstance(value, str) else "")]
    return []


def behind_retention(last_ledger: int, oldest_ledger: int) -> bool:
    """True when ledgers after ``last_ledger`` have already left the RPC's retention window
    (``oldest_ledger`` is the first it still serves), so events may be lost."""
    return last_ledger + 1 < oldest_ledger
