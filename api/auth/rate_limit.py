"""Attempt limits on authentication, counted in Postgres (shared by every replica, kept across
restarts). Over a limit the caller gets ``429`` with ``Retry-After`` in seconds.

* Registration: every attempt counts per IP (``auth.registrations_per_ip`` per window).
* Sign-in: failures count per login name (lockout with backoff, ``domain.sign_in_limits``) and
  per IP; successes count only against a much higher per-IP ceiling. See :class:`SignInGate`.

Counters are written in their own short transaction: a refused or failed request must still count,
and the request's own transaction may roll back.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.auth.services import AuthServices
from api.errors import ApiError
from db.queries import auth_lockouts, rate_limits
from db.session import transaction
from domain.sign_in_limits import after_failure, retry_after_seconds

WINDOW_SECONDS = 60
#: Counters idle this long are deleted when a new window starts (keeps the table small).
STALE_AFTER_SECONDS = 3600


def registration_bucket(ip: str | None) -> str:
    return f"auth:register:ip:{ip or 'unknown'}"


def login_failures_bucket(ip: str | None) -> str:
    return f"auth:login-failures:ip:{ip or 'unknown'}"


def logins_bucket(ip: str | None) -> str:
    return f"auth:logins:ip:{ip or 'unknown'}"


def account_bucket(email: str) -> str:
    """Bucket of one login name, hashed so the counter tables hold no e-mail addresses."""
    return "auth:account:" + hashlib.sha256(email.encode()).hexdigest()


def _too_many(detail: str, retry_after: int, code: str = "rate_limited") -> ApiError:
    return ApiError(429, code, detail, headers={"Retry-After": str(retry_after)})


async def enforce(
    sessions: async_sessionmaker[AsyncSession], *, bucket: str, limit: int, window_seconds: int = WINDOW_SECONDS,
    detail: str = "too many attempts; retry after the time in Retry-After",
) -> None:
    """Count one attempt against ``bucket``; refuse it when more than ``limit`` fall in the window.

    Raises:
        ApiError: 429 ``rate_limited`` with ``Retry-After`` (whole seconds until the window ends).
    """
    async with transaction(sessions) as session:
        hit = await rate_limits.record_hit(session, bucket=bucket, window_seconds=window_seconds)
        if hit.hits == 1:
            await rate_limits.purge_stale(session, older_than_seconds=STALE_AFTER_SECONDS)
    if hit.hits > limit:
        raise _too_many(detail, hit.resets_in_seconds)


@dataclass
class SignInGate:
    """The limits around one sign-in attempt, in the order :func:`api.auth.accounts.log_in` uses:
    :meth:`before` (may refuse), then :meth:`failed` (401 or, when it locks, 429) or
    :meth:`succeeded`.

    Failures per IP are counted pessimistically (before the password is checked, taken back on
    success), so parallel guesses cannot slip past the limit; one login name is checked by at most
    one request at a time (a transaction-scoped advisory lock on the request's session).
    """

    sessions: async_sessionmaker[AsyncSession]
    auth: AuthServices
    ip: str | None
    login_name: str

    @property
    def account(self) -> str:
        return account_bucket(self.login_name)

    async def before(self, session: AsyncSession) -> None:
        """Refuse when the IP is over a limit, the name is locked, or being checked right now.

        Raises:
            ApiError: 429 ``rate_limited`` / ``account_locked`` with ``Retry-After``.
        """
        auth = self.auth
        async with self.sessions() as peek_session:
            ok = await rate_limits.peek(peek_session, bucket=logins_bucket(self.ip), window_seconds=WINDOW_SECONDS)
        if ok is not None and ok.hits >= auth.logins_per_ip_per_minute:
            raise _too_many("too many sign-ins from your network this minute; retry after Retry-After", ok.resets_in_seconds)
        await enforce(
            self.sessions, bucket=login_failures_bucket(self.ip), limit=auth.login_failures_per_ip,
            window_seconds=auth.login_failure_window_seconds,
            detail="too many failed sign-ins from your network; retry after the time in Retry-After",
        )
        locked = await session.scalar(
            text("SELECT pg_try_advisory_xact_lock(hashtextextended(:key, 0))"), {"key": self.account}
        )
        if not locked:
            raise _too_many("another sign-in for this account is in progress; retry in a moment", 1)
        state = await auth_lockouts.get_state(session, bucket=self.account)
        wait = retry_after_seconds(state, await auth_lockouts.db_now(session))
        if wait is not None:
            raise _account_locked(wait)

    async def failed(self) -> ApiError | None:
        """Count the failure against the name; the 429 to answer when it locks the name, else None."""
        async with transaction(self.sessions) as session:
            now = await auth_lockouts.db_now(session)
            state = await auth_lockouts.get_state(session, bucket=self.account, for_update=True)
            state = after_failure(self.auth.lockout, state, now)
            await auth_lockouts.save_state(session, bucket=self.account, state=state)
            if state.failures == 1:
                await auth_lockouts.purge_idle(session, idle_seconds=STALE_AFTER_SECONDS * 24)
        wait = retry_after_seconds(state, now)
        return _account_locked(wait) if wait is not None else None

    async def succeeded(self, session: AsyncSession) -> None:
        """Clear the name's failures (request's transaction); move the IP's count to successes."""
        await auth_lockouts.clear(session, bucket=self.account)
        async with transaction(self.sessions) as own:
            await rate_limits.forgive(
                own, bucket=login_failures_bucket(self.ip), window_seconds=self.auth.login_failure_window_seconds
            )
            await rate_limits.record_hit(own, bucket=logins_bucket(self.ip), window_seconds=WINDOW_SECONDS)


def _account_locked(retry_after: int) -> ApiError:
    return _too_many(
        "too many wrong passwords for this account: it is locked for the time in Retry-After (longer after each "
        "further lockout); a successful sign-in then resets it",
        retry_after, code="account_locked",
    )
