"""Waiting on the user: a deposit that the policy would refuse for a reason the user can fix
waits at a stage of its own instead of paging an operator.

The coins are already in custody and belong to the user. If their KYC is missing, under review,
expired or below the tier the amount needs, the deposit waits at ``awaiting_kyc`` and continues
by itself when the KYC allows it. If their rolling limit window (24 h / 30 days) is full, it waits
at ``awaiting_limits`` until enough of the window has passed. Only what no user action can fix
(no configured tier takes the amount) goes to an operator.

Pure rules, no I/O, no clock: callers pass ``now``. Amounts are satoshis; times are aware UTC
datetimes. The tier minimum and limits come from :class:`domain.limits.LimitPolicy` (configured in
``kyc.*``; the minimum tiers follow docs/CONTRACTS.md ``kyc_registry.is_approved``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from domain.errors import DomainError
from domain.kyc import KycStatus
from domain.limits import DAILY_WINDOW, MONTHLY_WINDOW, LimitedOperation, LimitPolicy, TierLimits, Usage
from domain.operations import OperationStage

#: A usage entry leaves a window one second after ``counted_at + window`` (the usage query
#: counts ``counted_at >= now - window``, so the boundary instant still counts).
_LEAVES_AFTER = timedelta(seconds=1)


class WaitReason(StrEnum):
    """Why an operation waits on its user (stable codes, ``operations.metadata.wait_reason``)."""

    KYC_REQUIRED = "kyc_required"
    """No usable KYC: never submitted, rejected or revoked."""
    KYC_PENDING = "kyc_pending"
    """A submission that would allow the operation is under review."""
    KYC_EXPIRED = "kyc_expired"
    """The approval expired; a new submission is needed."""
    KYC_TIER_TOO_LOW = "kyc_tier_too_low"
    """Approved, but for a tier whose limits are below this amount."""
    KYC_DATA_MISSING = "kyc_data_missing"
    """The pending submission lacks a field its registration needs (e.g. ``country``)."""
    LIMIT_WINDOW = "limit_window"
    """The rolling 24-hour or 30-day limit is used up for now."""


@dataclass(frozen=True)
class KycSnapshot:
    """What the policy step knows about the user's KYC at ``now``.

    ``tier`` is the effective tier (highest approved, unexpired record; 0 when none). ``latest_*``
    describe the most recent submission (None when the user never submitted);
    ``latest_missing`` lists fields it still lacks (``verification_data.country``).
    """

    tier: int
    latest_status: str | None = None
    latest_tier: int | None = None
    latest_record_id: str | None = None
    latest_expires_at: datetime | None = None
    latest_missing: tuple[str, ...] = ()


@dataclass(frozen=True)
class UsageEntry:
    """One admitted operation's amount (sats) and when it started counting."""

    amount_sats: int
    counted_at: datetime


@dataclass(frozen=True)
class UserWait:
    """The operation waits on its user. ``waiting_for`` says, in words, what the user must do.

    ``stage`` is ``awaiting_kyc`` or ``awaiting_limits``; ``required_tier`` is the lowest tier that
    takes the amount; ``frees_at`` is when the limit window frees enough (limit waits only).
    """

    reason: WaitReason
    stage: OperationStage
    waiting_for: str
    required_tier: int | None = None
    frees_at: datetime | None = None


class NoTierAllows(DomainError):
    """No configured tier takes this amount in one operation: an operator must decide."""

    code = "limit_exceeded"


def usage_of(entries: Sequence[UsageEntry], now: datetime) -> Usage:
    """Sum ``entries`` over the rolling 24-hour and 30-day windows ending at ``now``."""
    daily = sum(e.amount_sats for e in entries if e.counted_at >= now - DAILY_WINDOW)
    monthly = sum(e.amount_sats for e in entries if e.counted_at >= now - MONTHLY_WINDOW)
    return Usage(daily_sats=daily, monthly_sats=monthly)


def lowest_tier_for(policy: LimitPolicy, operation: LimitedOperation, amount_sats: int) -> int | None:
    """The lowest tier (at or above the operation's minimum) whose single, daily and monthly
    limits each take ``amount_sats``; None when no configured tier does."""
    minimum = policy.min_tier[operation]
    for tier in sorted(policy.tiers):
        limits = policy.tiers[tier]
        if tier >= minimum and amount_sats <= min(limits.single_sats, limits.daily_sats, limits.monthly_sats):
            return tier
    return None


def window_frees_at(
    entries: Sequence[UsageEntry], *, window: timedelta, limit_sats: int, amount_sats: int, now: datetime
) -> datetime | None:
    """When ``amount_sats`` first fits under ``limit_sats`` in the rolling ``window``.

    None when it fits now. Entries leave the window oldest first; the answer is the moment the
    entry whose departure makes room has left. ``amount_sats <= limit_sats`` is assumed (else
    the window never frees enough, see :func:`lowest_tier_for`).
    """
    live = sorted((e for e in entries if e.counted_at >= now - window), key=lambda e: e.counted_at)
    used = sum(e.amount_sats for e in live)
    if used + amount_sats <= limit_sats:
        return None
    for entry in live:
        used -= entry.amount_sats
        if used + amount_sats <= limit_sats:
            return entry.counted_at + window + _LEAVES_AFTER
    return None


def deposit_wait(
    policy: LimitPolicy, amount_sats: int, kyc: KycSnapshot, entries: Sequence[UsageEntry], now: datetime
) -> UserWait | None:
    """Whether a deposit of ``amount_sats`` must wait on its user, and for what (None: go on).

    ``entries`` are the user's other admitted deposits in the last 30 days (not this one).

    Raises:
        NoTierAllows: no configured tier takes the amount (the single, daily or monthly limit of
            every tier is below it): waiting cannot help.
    """
    needed = lowest_tier_for(policy, LimitedOperation.DEPOSIT, amount_sats)
    if needed is None:
        raise NoTierAllows(f"no KYC tier allows a deposit of {amount_sats} sats; an operator must decide")
    if kyc.tier < needed:
        return _kyc_wait(policy, amount_sats, kyc, needed, now)
    limits = policy.tiers[kyc.tier]
    frees = [
        window_frees_at(entries, window=window, limit_sats=limit, amount_sats=amount_sats, now=now)
        for window, limit in ((DAILY_WINDOW, limits.daily_sats), (MONTHLY_WINDOW, limits.monthly_sats))
    ]
    later = [f for f in frees if f is not None]
    if not later:
        return None
    frees_at = max(later)
    return UserWait(
        reason=WaitReason.LIMIT_WINDOW, stage=OperationStage.AWAITING_LIMITS, frees_at=frees_at,
        waiting_for=_limit_words(limits, kyc.tier, amount_sats, usage_of(entries, now), frees_at, policy),
    )


def _kyc_wait(policy: LimitPolicy, amount_sats: int, kyc: KycSnapshot, needed: int, now: datetime) -> UserWait:
    reason, words = kyc_action(
        policy, LimitedOperation.DEPOSIT, amount_sats, kyc, needed, now,
        then="; the deposit continues by itself once it is approved",
    )
    return UserWait(reason=reason, stage=OperationStage.AWAITING_KYC, waiting_for=words, required_tier=needed)


def kyc_action(
    policy: LimitPolicy, operation: LimitedOperation, amount_sats: int, kyc: KycSnapshot, needed: int,
    now: datetime, *, then: str,
) -> tuple[WaitReason, str]:
    """Why the user's KYC does not allow ``operation`` of ``amount_sats`` (``needed`` is the lowest
    tier that would) and, in words, what they must do about it; ``then`` ends the sentence."""
    submit = f"submit KYC for tier {needed} or higher (POST /api/kyc/submit)"
    status, latest_tier = kyc.latest_status, kyc.latest_tier or 0
    if status == KycStatus.PENDING and kyc.latest_missing:
        fields = ", ".join(kyc.latest_missing)
        return WaitReason.KYC_DATA_MISSING, (
            f"your KYC submission lacks {fields}: add it with PUT /api/kyc/records/{kyc.latest_record_id}{then}"
        )
    if status == KycStatus.PENDING and latest_tier >= needed:
        return WaitReason.KYC_PENDING, f"your KYC submission for tier {latest_tier} is under review{then}"
    if status == KycStatus.PENDING:
        return WaitReason.KYC_TIER_TOO_LOW, (
            f"this {operation} of {amount_sats} sats needs KYC tier {needed}; your pending submission is for "
            f"tier {latest_tier}: once it is decided, {submit}{then}"
        )
    if kyc.tier > 0:
        allows = policy.tiers.get(kyc.tier)
        most = f" allows at most {_largest(allows)} sats" if allows and kyc.tier >= policy.min_tier[operation] else (
            f" does not allow a {operation}")
        return WaitReason.KYC_TIER_TOO_LOW, (
            f"this {operation} of {amount_sats} sats needs KYC tier {needed}; tier {kyc.tier}{most}: {submit}{then}"
        )
    expired_at = kyc.latest_expires_at
    if status == KycStatus.EXPIRED or (status == KycStatus.APPROVED and expired_at is not None and expired_at <= now):
        when = f" on {expired_at.date().isoformat()}" if expired_at else ""
        return WaitReason.KYC_EXPIRED, f"your KYC approval expired{when}: {submit}{then}"
    return WaitReason.KYC_REQUIRED, f"complete KYC verification: {submit}{then}"


def _largest(limits: TierLimits) -> int:
    return min(limits.single_sats, limits.daily_sats, limits.monthly_sats)


def _limit_words(
    limits: TierLimits, tier: int, amount_sats: int, usage: Usage, frees_at: datetime, policy: LimitPolicy
) -> str:
    higher = [t for t in sorted(policy.tiers) if t > tier]
    sooner = f", or sooner with KYC tier {higher[0]} (POST /api/kyc/submit)" if higher else ""
    return (
        f"your tier {tier} limits are {limits.daily_sats} sats per 24 h and {limits.monthly_sats} sats per 30 days; "
        f"{usage.daily_sats} and {usage.monthly_sats} sats are used, so this deposit of {amount_sats} sats continues "
        f"by itself at {frees_at.isoformat(timespec='seconds')}{sooner}"
    )
