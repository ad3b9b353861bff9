"""Pure deposit rules: required depth, reorg window, solvency guard, limit usage of a live deposit.

No I/O and no clock: callers pass heights, balances and ``now``. Amounts are satoshis
(1 iSTSi base unit = 1 satoshi, docs/DESIGN.md §3).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from domain.amounts import DEPOSIT_BELOW_MINIMUM, BelowMinimum
from domain.errors import DomainError
from domain.limits import DAILY_WINDOW, MONTHLY_WINDOW, Usage


class DepositFailure(StrEnum):
    """Codes a deposit *fails* with: the chain disproved the claim (``operations.error``).

    Each one releases the outpoint (``operations.outpoint`` back to NULL), so the rightful owner
    or the detection scan can still credit the output the chain really has.
    """

    AMOUNT_MISMATCH = "amount_mismatch"
    NO_OUTPUT_TO_ADDRESS = "no_output_to_address"
    TX_NOT_FOUND = "tx_not_found"
    REORGED = "reorged"


class AttentionReason(StrEnum):
    """Codes that park a deposit in ``needs_attention`` until an operator retries or cancels.

    The coins are in custody and belong to the user, so a policy refusal is not a failure: a
    person decides (for example retries once the KYC approval lands).
    """

    INSUFFICIENT_KYC_TIER = "insufficient_kyc_tier"
    LIMIT_EXCEEDED = "limit_exceeded"
    COMPLIANCE_CHECK_FAILED = "compliance_check_failed"
    SOLVENCY_GUARD = "solvency_guard"
    MINT_REJECTED = "mint_rejected"
    REORGED_AFTER_MINT = "reorged_after_mint"


class Insolvent(DomainError):
    """Minting would leave token supply (plus pending withdrawals) above the custody's BTC."""

    code = "solvency_guard"


def check_minimum(amount_sats: int, minimum_sats: int) -> None:
    """Refuse deposits below ``minimum_sats`` (exactly the minimum passes).

    Raises:
        BelowMinimum: ``amount_sats < minimum_sats``.
    """
    if amount_sats < minimum_sats:
        raise BelowMinimum(f"deposits start at {minimum_sats} sats; {amount_sats} sats given", code=DEPOSIT_BELOW_MINIMUM)


def required_confirmations(
    amount_sats: int,
    *,
    min_confirmations: int,
    large_threshold_sats: int,
    large_confirmations: int,
    router_min_confirmations: int,
) -> int:
    """Depth (blocks) a deposit must reach before it is minted.

    The configured depth, deeper from ``large_threshold_sats`` up (inclusive), and never below
    what the router itself demands (it refuses shallower mints with code 32).

    Source: docs/CONTRACTS.md ``execute_bitcoin_deposit`` (confirmations >= router minimum).
    """
    configured = large_confirmations if amount_sats >= large_threshold_sats else min_confirmations
    return max(configured, router_min_confirmations, 1)


def reorg_window_passed(tip_height: int, missing_since_tip: int, window_blocks: int) -> bool:
    """Whether a deposit has been off the canonical chain for ``window_blocks`` blocks or more.

    Args:
        tip_height: the canonical tip now.
        missing_since_tip: the tip when the deposit was first seen missing.
        window_blocks: ``deposits.reorg_window_blocks``.
    """
    return tip_height - missing_since_tip >= window_blocks


@dataclass(frozen=True)
class SolvencyView:
    """Inputs of the solvency guard, read from the books just before minting.

    ``custody_sats``: confirmed custody outputs in the UTXO set (this deposit's own included);
    ``supply_units``: iSTSi in issue per the books, mints in progress (pending credits) included;
    ``pending_withdrawals_sats``: burned but not yet paid out (``withdrawals_unpaid``);
    ``reorged_sats``: BTC of credited deposits that left the chain and whose credits are held
    (``reorged_deposits``): an explained shortfall that must not stop other users' deposits.
    """

    custody_sats: int
    supply_units: int
    pending_withdrawals_sats: int
    reorged_sats: int = 0


def check_solvency(view: SolvencyView, amount_sats: int) -> None:
    """Custody BTC must cover the token supply after this mint plus pending payouts.

    ``custody + reorged >= supply + amount + pending``.

    Raises:
        Insolvent: the rule would break (reconciliation must look before anything more is minted).

    Source: docs/DESIGN.md §3 invariants (custody ≥ supply + pending payouts).
    """
    covered = view.custody_sats + view.reorged_sats
    after_supply = view.supply_units + amount_sats
    if covered < after_supply + view.pending_withdrawals_sats:
        raise Insolvent(
            f"custody holds {view.custody_sats} sats (+{view.reorged_sats} held after reorgs) for {after_supply} "
            f"units supplied after this mint and {view.pending_withdrawals_sats} sats of pending withdrawals"
        )


def usage_without(usage: Usage, *, amount_sats: int, created_at: datetime, now: datetime) -> Usage:
    """The user's limit usage minus this (live) deposit's own amount.

    Usage is summed over live operations (``db.queries.limits``), which include the deposit
    being checked; it must not count against itself.
    """
    daily = amount_sats if created_at >= now - DAILY_WINDOW else 0
    monthly = amount_sats if created_at >= now - MONTHLY_WINDOW else 0
    return Usage(daily_sats=max(0, usage.daily_sats - daily), monthly_sats=max(0, usage.monthly_sats - monthly))
