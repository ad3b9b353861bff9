"""Attempt limits on authentication, counted in Postgres (shared by every replica, kept across
restarts). Over the limit the caller gets ``429`` with ``Retry-After`` in seconds.

Counters are written in their own short transaction: a refused or failed request must still count,
and the request's own transaction may roll back.
"""

from __future__ import annotations

import hashlib

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.errors import ApiError
from db.queries import rate_limits
from db.session import transaction

WINDOW_SECONDS = 60
#: Counters idle this long are deleted when a new window starts (keeps the table small).
STALE_AFTER_SECONDS = 3600


def ip_bucket(ip: str | None) -> str:
    return f"auth:ip:{ip or 'unknown'}"


def account_bucket(email: str) -> str:
    """Bucket of one login name, hashed so the counter table holds no e-mail addresses."""
    return "auth:account:" + hashlib.sha256(email.encode()).hexdigest()


async def enforce(
    sessions: async_sessionmaker[AsyncSession], *, bucket: str, limit: int, window_seconds: int = WINDOW_SECONDS
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
        raise ApiError(
            429,
            "rate_limited",
            "too many attempts; retry later",
            headers={"Retry-After": str(hit.resets_in_seconds)},
        )
