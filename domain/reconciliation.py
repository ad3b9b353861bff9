"""Reconciliation: which figures must agree, what money in flight explains, how bad the rest is (pure).

Each :class:`Comparison` puts the side where a *shortfall* is dangerous as ``actual``:

==============================  =============================  =====================================
check                           expected                       actual
==============================  =============================  =====================================
``supply_vs_books``             ``total_supply`` on Stellar    iSTSi in issue per the books
``user_balance``                the user's balance on Stellar  the user's iSTSi per the books
``utxo_set_vs_chain``           outputs the set holds          what the chain source says of them
``utxo_set_vs_books``           ``custody_btc`` net of payouts the UTXO set (owned, net of payouts)
``custody_vs_liabilities``      supply + unpaid withdrawals    custody outputs (+ payouts unsettled)
==============================  =============================  =====================================

Severity is asymmetric (docs/DESIGN.md §3, "money in flight is not a discrepancy"): a difference fully
explained by in-flight items (:class:`ItemKind`) is ``none``; an unexplained *surplus* is a
``warning`` (never a pause); an unexplained *shortfall* pauses the engine: ``critical`` below the
warning band (a rounding-sized gap), ``emergency`` from it on (or where nothing was expected).
Amounts are satoshis (= base units).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from enum import StrEnum

from domain.reserves import Severity, SeverityThresholds, discrepancy_bps


class Check(StrEnum):
    SUPPLY_VS_BOOKS = "supply_vs_books"
    USER_BALANCE = "user_balance"
    UTXO_SET_VS_CHAIN = "utxo_set_vs_chain"
    UTXO_SET_VS_BOOKS = "utxo_set_vs_books"
    CUSTODY_VS_LIABILITIES = "custody_vs_liabilities"


class ItemKind(StrEnum):
    """Money in flight that explains a difference, item by item."""

    DEPOSIT_IN_FLIGHT = "deposit_in_flight"
    """BTC of a deposit seen on chain, not credited yet (waiting for depth, KYC, the mint)."""
    PENDING_RECEIPT = "pending_receipt"
    """BTC a user sent that is not a deposit yet (below the minimum, or the deposit ended)."""
    UNATTRIBUTED_RECEIPT = "unattributed_receipt"
    """BTC paid to a custody address no user owns."""
    MINT_IN_PROGRESS = "mint_in_progress"
    """A credit placed by the solvency guard whose mint may have landed already."""
    BURN_IN_PROGRESS = "burn_in_progress"
    """A withdrawal being burned: the tokens may be gone before the books post the burn."""
    PAYOUT_IN_FLIGHT = "payout_in_flight"
    """A payout signed or broadcast, not yet confirmed."""
    FEE_BUMP_IN_FLIGHT = "fee_bump_in_flight"
    """The extra fee of a payout's replacement or CPFP child, signed, not yet confirmed (it is
    posted if that version confirms, voided if an earlier one does)."""
    REORG_HOLD = "reorg_hold"
    """A credited deposit whose BTC left the chain; its credit is held until it returns."""
    SUSPENSE = "suspense"
    """Amounts in a suspense account (written-off reorgs, holders' own burns): an operator decides."""


@dataclass(frozen=True)
class Item:
    kind: ItemKind
    reference: str
    amount_sats: int
    detail: str = ""


@dataclass(frozen=True)
class Comparison:
    """Two figures that must agree, and the items that may explain them apart.

    ``surplus_items`` explain ``actual > expected``, ``shortfall_items`` ``actual < expected``.
    """

    check: Check
    expected: int
    actual: int
    user_id: uuid.UUID | None = None
    surplus_items: tuple[Item, ...] = field(default=())
    shortfall_items: tuple[Item, ...] = field(default=())

    @property
    def diff(self) -> int:
        return self.actual - self.expected


@dataclass(frozen=True)
class Finding:
    """A comparison whose figures differ: the signed difference, what is left unexplained and
    how bad that is. ``explained`` lists the items that account for the rest."""

    comparison: Comparison
    diff_sats: int
    unexplained_sats: int
    diff_bps: int
    severity: Severity
    explained: tuple[Item, ...]

    @property
    def shortfall(self) -> bool:
        return self.unexplained_sats < 0


def assess_one(c: Comparison, thresholds: SeverityThresholds = SeverityThresholds()) -> Finding | None:
    """The finding of one comparison (None when the figures agree)."""
    diff = c.diff
    if diff == 0:
        return None
    items = c.surplus_items if diff > 0 else c.shortfall_items
    explained = sum(i.amount_sats for i in items)
    left = max(abs(diff) - explained, 0)
    unexplained = left if diff > 0 else -left
    bps = discrepancy_bps(c.expected, c.expected + unexplained)
    if unexplained == 0:
        level = Severity.NONE
    elif unexplained > 0:
        level = Severity.WARNING
    else:  # custody short of what it must hold: from the warning band on, an emergency
        level = Severity.EMERGENCY if bps >= thresholds.warning_bps else Severity.CRITICAL
    return Finding(c, diff, unexplained, bps, level, items)


def assess(comparisons: list[Comparison], thresholds: SeverityThresholds = SeverityThresholds()) -> list[Finding]:
    """Findings for every comparison whose figures differ (equal figures yield nothing)."""
    return [f for f in (assess_one(c, thresholds) for c in comparisons) if f is not None]


def pauses(findings: list[Finding]) -> bool:
    """An unexplained shortfall (critical or worse) stops minting and withdrawals."""
    return any(f.shortfall and f.severity.rank >= Severity.CRITICAL.rank for f in findings)
