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
