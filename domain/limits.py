"""Tier limits for deposits and withdrawals, data-driven from configuration.

Each tier has a single-transaction, a rolling 24-hour and a rolling 30-day limit in satoshis.
The minimum tier per operation follows docs/CONTRACTS.md ``kyc_registry.is_approved``: deposit needs
Basic (1), withdrawal needs Verified (2). Usage counts operations that are not failed or
cancelled, so a failed operation releases its usage without bookkeeping.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import TYPE_CHECKING

from domain.errors import DomainError

if TYPE_CHECKING:  # config types only for annotations: workflows import this module
    from config.settings import KycSettings

DAILY_WINDOW = timedelta(hours=24)
MONTHLY_WINDOW = timedelta(days=30)


class LimitedOperation(StrEnum):
    DEPOSIT = "deposit"
    WITHDRAWAL = "withdrawal"


@dataclass(frozen=True)
class TierLimits:
    """Limits of one tier, all in satoshis (> 0)."""

    single_sats: int
    daily_sats: int
    monthly_sats: int


@dataclass(frozen=True)
class LimitPolicy:
    min_tier: Mapping[LimitedOperation, int]
    tiers: Mapping[int, TierLimits]

    @classmethod
    def from_settings(cls, kyc: KycSettings) -> LimitPolicy:
        """The policy configured in ``settings.kyc`` (minimum tiers and per-tier limits)."""
        return cls(
            min_tier={
                LimitedOperation.DEPOSIT: kyc.min_tier_deposit,
                LimitedOperation.WITHDRAWAL: kyc.min_tier_withdrawal,
            },
            tiers={int(t): TierLimits(v.single_sats, v.daily_sats, v.monthly_sats) for t, v in kyc.tier_limits.items()},
        )


@dataclass(frozen=True)
class Usage:
    """What a user already used in each rolling window, in satoshis."""

    daily_sats: int = 0
    monthly_sats: int = 0


class InsufficientTier(DomainError):
    code = "insufficient_kyc_tier"

    def __init__(self, operation: LimitedOperation, tier: int, required: int):
        super().__init__(f"{operation} needs KYC tier {required}; current tier is {tier}")
        self.operation, self.tier, self.required = operation, tier, required


class LimitExceeded(DomainError):
    code = "limit_exceeded"

    def __init__(self, limit: str, limit_sats: int, used_sats: int, requested_sats: int):
        super().__init__(
            f"{limit} limit of {limit_sats} sats exceeded: {used_sats} used, {requested_sats} requested"
        )
        self.limit, self.limit_sats, self.used_sats, self.requested_sats = limit, limit_sats, used_sats, requested_sats


@dataclass(frozen=True)
class LimitView(TierLimits):
    """Limits of one operation for one tier (the :class:`TierLimits`) with what is used and left
    (for ``GET /api/kyc/status``), in satoshis."""

    daily_used_sats: int
    monthly_used_sats: int
    daily_left_sats: int
    monthly_left_sats: int


def check_operation(
    policy: LimitPolicy, operation: LimitedOperation, tier: int, amount_sats: int, usage: Usage
) -> None:
    """Allow ``amount_sats`` for a user of ``tier`` who already used ``usage``.

    Exactly the limit passes; one satoshi more fails.

    Raises:
        InsufficientTier: tier below the operation's minimum (or a tier without limits).
        LimitExceeded: the single, daily or monthly limit would be passed (checked in that order).
        ValueError: ``amount_sats`` is not positive.
    """
    if amount_sats <= 0:
        raise ValueError("amount_sats must be positive")
    required = policy.min_tier[operation]
    limits = policy.tiers.get(tier)
    if tier < required or limits is None:
        raise InsufficientTier(operation, tier, required)
    if amount_sats > limits.single_sats:
        raise LimitExceeded("single", limits.single_sats, 0, amount_sats)
    if usage.daily_sats + amount_sats > limits.daily_sats:
        raise LimitExceeded("daily", limits.daily_sats, usage.daily_sats, amount_sats)
    if usage.monthly_sats + amount_sats > limits.monthly_sats:
        raise LimitExceeded("monthly", limits.monthly_sats, usage.monthly_sats, amount_sats)


def view(policy: LimitPolicy, tier: int, usage: Usage) -> LimitView | None:
    """Limits and what is left for ``tier`` (``None`` when the tier has no limits configured)."""
    limits = policy.tiers.get(tier)
    if limits is None:
        return None
    return LimitView(
        single_sats=limits.single_sats,
        daily_sats=limits.daily_sats,
        monthly_sats=limits.monthly_sats,
        daily_used_sats=usage.daily_sats,
        monthly_used_sats=usage.monthly_sats,
        daily_left_sats=max(0, limits.daily_sats - usage.daily_sats),
        monthly_left_sats=max(0, limits.monthly_sats - usage.monthly_sats),
    )
