"""Reserve ratio, reserve status and discrepancy severity (pure rules).

Units: reserves and liabilities in satoshis (1 iSTSi base unit = 1 satoshi, docs/DESIGN.md §3);
ratios and discrepancies in basis points (1 bps = 0.01 %).

Source: docs/DESIGN.md §3 (``ratio_bps = reserves_sats * 10000 // supply_units``), docs/CONTRACTS.md
reserve_manager (a 1:1 token fully backed reads 10000 = healthy; buffer thresholds above 10000
are the operator's configuration, off by default), issue 9 severity bands (minor < 100,
warning >= 100, critical >= 300, emergency >= 500 bps).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar

#: A ladder's band type (:class:`ReserveStatus` or :class:`Severity`).
_Band = TypeVar("_Band")


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


def _band(value: int, lines: Sequence[int], bands: Sequence[_Band]) -> _Band:
    """``bands[i]`` for the first of ``lines`` (bps, checked in order) that ``value`` reaches
    (``value >= lines[i]``); the last band, one more than there are lines, when it reaches none."""
    return next((band for line, band in zip(lines, bands, strict=False) if value >= line), bands[-1])


def reserve_status(ratio: int | None, thresholds: RatioThresholds = RatioThresholds()) -> ReserveStatus:
    """Status of a ratio: ``ok`` (>= warning line or no liabilities), ``warning`` (< warning),
    ``critical`` (< critical), ``breach`` (< minimum, i.e. not fully backed)."""
    if ratio is None:
        return ReserveStatus.OK
    lines = (thresholds.warning_bps, thresholds.critical_bps, thresholds.minimum_bps)
    bands = (ReserveStatus.OK, ReserveStatus.WARNING, ReserveStatus.CRITICAL, ReserveStatus.BREACH)
    return _band(ratio, lines, bands)


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
    lines = (thresholds.emergency_bps, thresholds.critical_bps, thresholds.warning_bps)
    bands = (Severity.EMERGENCY, Severity.CRITICAL, Severity.WARNING, Severity.MINOR)
    return _band(bps, lines, bands)


def worst(severities: list[Severity]) -> Severity:
    """The most severe of ``severities`` (``none`` for an empty list)."""
    return max(severities, key=lambda s: s.rank, default=Severity.NONE)
