"""Attempt counters for rate limiting, one atomic statement per attempt.

Windows are fixed-length and start at a bucket's first attempt (not at clock minutes), so "N
attempts within a minute" means exactly that. All times are the database's, so API replicas with
skewed clocks still agree.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

# One upsert: a new bucket starts a window; an expired window restarts; otherwise hits + 1.
# Concurrent attempts on one bucket serialise on the row lock, so no attempt is lost.
_HIT = text(
    """
    INSERT INTO rate_limit_counters AS c (bucket, window_started_at, hits)
    VALUES (:bucket, now(), 1)
    ON CONFLICT (bucket) DO UPDATE SET
        hits = CASE WHEN c.window_started_at <= now() - make_interval(secs => :window) THEN 1
                    ELSE c.hits + 1 END,
        window_started_at = CASE WHEN c.window_started_at <= now() - make_interval(secs => :window)
                                 THEN now() ELSE c.window_started_at END
    RETURNING c.hits,
              EXTRACT(EPOCH FROM c.window_started_at + make_interval(secs => :window) - now())
    """
)
_PURGE = text(
    "DELETE FROM rate_limit_counters WHERE window_started_at < now() - make_interval(secs => :keep)"
)


@dataclass(frozen=True)
class Hit:
    hits: int
    """Attempts in the current window, this one included."""
    resets_in_seconds: int
    """Whole seconds (>= 1) until the window ends."""


async def record_hit(session: AsyncSession, *, bucket: str, window_seconds: int) -> Hit:
    """Count one attempt against ``bucket`` and return the window's state."""
    hits, remaining = (await session.execute(_HIT, {"bucket": bucket, "window": window_seconds})).one()
    return Hit(hits=int(hits), resets_in_seconds=max(1, math.ceil(float(remaining))))


async def purge_stale(session: AsyncSession, *, older_than_seconds: int) -> int:
    """Delete counters whose window started more than ``older_than_seconds`` ago."""
    result = await session.execute(_PURGE, {"keep": older_than_seconds})
    return result.rowcount or 0


_PEEK = text(
    """
    SELECT hits, EXTRACT(EPOCH FROM window_started_at + make_interval(secs => :window) - now())
    FROM rate_limit_counters
    WHERE bucket = :bucket AND window_started_at > now() - make_interval(secs => :window)
    """
)
_FORGIVE = text(
    """
    UPDATE rate_limit_counters SET hits = greatest(hits - 1, 0)
    WHERE bucket = :bucket AND window_started_at > now() - make_interval(secs => :window)
    """
)


async def peek(session: AsyncSession, *, bucket: str, window_seconds: int) -> Hit | None:
    """The current window's state without counting an attempt (None: no attempt in the window)."""
    row = (await session.execute(_PEEK, {"bucket": bucket, "window": window_seconds})).one_or_none()
    if row is None:
        return None
    return Hit(hits=int(row[0]), resets_in_seconds=max(1, math.ceil(float(row[1]))))


async def forgive(session: AsyncSession, *, bucket: str, window_seconds: int) -> None:
    """Take back one attempt counted in the current window (an attempt that turned out fine)."""
    await session.execute(_FORGIVE, {"bucket": bucket, "window": window_seconds})
