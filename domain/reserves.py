"""Reserve ratio, reserve status and discrepancy severity (pure rules).

Units: reserves and liabilities in satoshis (1 iSTSi base unit = 1 satoshi, docs/DESIGN.md §3);
ratios and discrepancies in basis points (1 bps = 0.01 %).

Source: docs/DESIGN.md §3 (``ratio_bps = reserves_sats * 10000 // supply_units``), docs/CONTRACTS.md
reserve_manager (a 1:1 token fully backed reads 10000 = healthy; buffer thresholds above 10000
are the operator's configuration, off by default), issue 9 severity bands (minor < 100,
warning >= 100, critical >= 300, emergency >= 500 bps).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ReserveStatus(StrEnum):
    """Health of the reserve ratio: ``ok`` above the warning line … ``breach`` under 100 %."""

    OK = "ok"
    WARNING = "warning"
    CRITICAL = "critical"
    BREACH = "breach"


class Severity(StrEnum):
    """How far two figures that must agree are apart (``none`` when they agree)."""

    NONE = "none"
    MINOR = "minor"
    WARNING = "warning"
    CRITICAL = "critical"
    EMERGENCY = "emergency"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {s: i for i, s in enumerate(Severity)}


@dataclass(frozen=True)
class RatioThresholds:
    """Ratio lines in bps; ``warning_bps >= critical_bps >= minimum_bps`` (default: 100 % is healthy)."""

    warning_bps: int = 10_000
    critical_bps: int = 10_000
    minimum_bps: int = 10_000


@dataclass(frozen=True)
class SeverityThresholds:
    """Discrepancy bands in bps: below ``warning_bps`` is minor."""

    warning_bps: int = 100
    critical_bps: int = 300
    emergency_bps: int = 500


def ratio_bps(reserves_sats: int, supply_units: int) -> int | None:
    """Floor of reserves / supply in basis points; None when supply is 0.

    Raises:
        ValueError: a negative amount.
    """
    if reserves_sats < 0 or supply_units < 0:
        raise ValueError("amounts must be non-negative")
    if supply_units == 0:
        return None
    return reserves_sats * 10_000 // supply_units


def reserve_status(ratio: int | None, thresholds: RatioThresholds = RatioThresholds()) -> ReserveStatus:
    """Status of a ratio: ``ok`` (>= warning line or no liabilities), ``warning`` (< warning),
    ``critical`` (< critical), ``breach`` (< minimum, i.e. not fully backed)."""
    if ratio is None or ratio >= thresholds.warning_bps:
        return ReserveStatus.OK
    if ratio >= thresholds.critical_bps:
        return ReserveStatus.WARNING
    if ratio >= thresholds.minimum_bps:
        return ReserveStatus.CRITICAL
    return ReserveStatus.BREACH


def discrepancy_bps(expected: int, actual: int) -> int:
    """``|actual - expected|`` relative to ``expected``, in bps, rounded up.

    A difference against an expected 0 counts as 10000 bps (100 %), so any unexplained amount
    where none should be is at least an emergency.
    """
    diff = abs(actual - expected)
    if diff == 0:
        return 0
    if expected == 0:
        return 10_000
    return -(-diff * 10_000 // abs(expected))


def severity(bps: int, thresholds: SeverityThresholds = SeverityThresholds()) -> Severity:
    """Band of a discrepancy in bps (``none`` only for 0)."""
    if bps <= 0:
        return Severity.NONE
    if bps >= thresholds.emergency_bps:
        return Severity.EMERGENCY
    if bps >= thresholds.critical_bps:
        return Severity.CRITICAL
    if bps >= thresholds.warning_bps:
        return Severity.WARNING
    return Severity.MINOR


def worst(severities: list[Severity]) -> Severity:
    """The most severe of ``severities`` (``none`` for an empty list)."""
    return max(severities, key=lambda s: s.rank, default=Severity.NONE)
