"""Sign-in attempt limits that stop password guessing, not offices.

* **Per account** (login name): failures in a row are counted; the failure after
  ``max_failures`` locks the name for ``base`` (60 s by default), and each further lockout in a row
  doubles it up to ``maximum`` (1 h): an online guesser gets about 5 tries per lockout period,
  a person who mistyped waits a minute. Failures older than ``window`` are forgotten, and so are
  lockouts after a quiet ``window`` past the last one. A success clears everything.
* **Per IP**: failures over all accounts are limited (``auth.login_failures_per_ip`` per window)
  so that spraying one password over many accounts is slowed down; successful sign-ins only
  count against a much higher ceiling (``auth.logins_per_ip_per_minute``), so one office behind a
  NAT or an onboarding script is never refused for signing in correctly.

Pure rules, no I/O: the caller passes the stored state and the database's ``now``.
Source of the approach: NIST SP 800-63B §5.2.2 (rate limiting, at most 100 consecutive failures
per account) and OWASP's Authentication Cheat Sheet (lockout with exponential backoff).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class LockoutPolicy:
    """``max_failures`` failures in a row are allowed; the next one locks for ``base``, doubling
    per lockout in a row up to ``maximum``; ``window`` forgets old failures and lockouts."""

    max_failures: int
    window: timedelta
    base: timedelta
    maximum: timedelta


@dataclass(frozen=True)
class LockoutState:
    """What is stored per login name (``auth_lockouts``)."""

    failures: int = 0
    first_failure_at: datetime | None = None
    lockouts: int = 0
    locked_until: datetime | None = None


def lock_duration(policy: LockoutPolicy, lockouts: int) -> timedelta:
    """How long the ``lockouts``-th lockout in a row lasts (1 → ``base``, 2 → 2 × ``base`` …)."""
    if lockouts <= 0:
        return timedelta(0)
    seconds = policy.base.total_seconds() * 2 ** min(lockouts - 1, 30)
    return min(timedelta(seconds=seconds), policy.maximum)


def retry_after_seconds(state: LockoutState, now: datetime) -> int | None:
    """Whole seconds (>= 1) until the lock ends, or None when the name is not locked."""
    if state.locked_until is None or state.locked_until <= now:
        return None
    return max(1, math.ceil((state.locked_until - now).total_seconds()))


def after_failure(policy: LockoutPolicy, state: LockoutState, now: datetime) -> LockoutState:
    """The state after one more failed sign-in at ``now``.

    The failure numbered ``max_failures + 1`` within ``window`` locks the name (and restarts the
    count); the lockout counter forgets lockouts that ended more than ``window`` ago.
    """
    lockouts = state.lockouts
    if state.locked_until is not None and now - state.locked_until > policy.window:
        lockouts = 0
    failures, first = state.failures, state.first_failure_at
    if first is None or now - first > policy.window:
        failures, first = 0, now
    failures += 1
    if failures > policy.max_failures:
        lockouts += 1
        return LockoutState(failures=0, first_failure_at=None, lockouts=lockouts,
                            locked_until=now + lock_duration(policy, lockouts))
    return LockoutState(failures=failures, first_failure_at=first, lockouts=lockouts, locked_until=state.locked_until)
