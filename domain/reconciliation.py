"""Three-way reconciliation: which figures must agree, and how badly they disagree (pure).

Checks (issue 9): custody UTXOs vs ``reserve_manager`` reserves; custody UTXOs vs the database's
completed deposits minus withdrawals; on-chain token supply vs the sum of database balances;
each recently active user's on-chain balance vs the database. ``expected`` is the reference
side (Bitcoin for assets, Soroban for tokens); amounts in satoshis / base units.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from domain.reserves import Severity, SeverityThresholds, discrepancy_bps, severity

UTXOS_VS_RESERVE_MANAGER = "utxos_vs_reserve_manager"
UTXOS_VS_DATABASE = "utxos_vs_database"
SUPPLY_VS_BALANCES = "supply_vs_balances"
USER_BALANCE = "user_balance"


@dataclass(frozen=True)
class Comparison:
    """Two figures that must be equal; ``user_id`` for per-user checks."""

    check_name: str
    expected: int
    actual: int
    user_id: uuid.UUID | None = None


@dataclass(frozen=True)
class Finding:
    """A comparison that disagreed: signed ``diff_sats`` (actual - expected), ``diff_bps``, severity."""

    comparison: Comparison
    diff_sats: int
    diff_bps: int
    severity: Severity


def assess(comparisons: list[Comparison], thresholds: SeverityThresholds = SeverityThresholds()) -> list[Finding]:
    """Findings for every comparison whose figures differ (equal figures yield nothing)."""
    findings = []
    for c in comparisons:
        bps = discrepancy_bps(c.expected, c.actual)
        if bps:
            findings.append(Finding(c, c.actual - c.expected, bps, severity(bps, thresholds)))
    return findings
