"""Leases of the channel accounts in ``soroban_channels`` (each call one short transaction).

The rules, in SQL so that every worker process obeys the same ones:

* a channel is *free* when no envelope is bound to it and its lease is absent or expired;
  ``lease_free`` takes one with ``FOR UPDATE SKIP LOCKED``, so two workers never get the same;
* binding an envelope (``bind_envelope``, called inside the transaction that stores it) needs
  the lease to be still ours and unexpired;
* ``release`` frees a channel only for the envelope bound to it (by hash) or for an unbound
  lease (by token), and moves the tracked sequence number as the resolution says;
* ``list_stuck`` names bound channels whose lease ran out (a crashed worker): they are resolved
  by hash before anyone uses them again.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.types import String


@dataclass(frozen=True)
class LeasedRow:
    """A leased channel: its strkey, tracked sequence (None: untracked) and whether its
    balance check is due (then the caller reloads the account from the network)."""

    public_key: str
    sequence: int | None
    balance_check_due: bool


@dataclass(frozen=True)
class StuckRow:
    """A channel bound to an envelope whose lease expired."""

    public_key: str
    tx_hash: str
    envelope_sequence: int
    max_time: int
    auth_expiration_ledger: int


_KEYS = bindparam("keys", type_=ARRAY(String))

_LEASE = text("""
UPDATE soroban_channels SET lease_owner = :token, leased_until = now() + make_interval(secs => :ttl),
       last_used_at = now(), updated_at = now()
WHERE public_key = (
    SELECT public_key FROM soroban_channels
    WHERE public_key = ANY(:keys) AND submission_key IS NULL AND (leased_until IS NULL OR leased_until < now())
    ORDER BY last_used_at NULLS FIRST, public_key
    LIMIT 1 FOR UPDATE SKIP LOCKED)
RETURNING public_key, sequence,
          (balance_checked_at IS NULL OR balance_checked_at < now() - make_interval(secs => :check)) AS check_due
""").bindparams(_KEYS)

_BIND = text("""
UPDATE soroban_channels SET submission_key = :key, tx_hash = :tx_hash, envelope_sequence = :sequence,
       max_time = :max_time, auth_expiration_ledger = :auth_expiry, updated_at = now()
WHERE public_key = :public_key AND lease_owner = :token AND leased_until > now() AND submission_key IS NULL
""")

_RELEASE = text("""
UPDATE soroban_channels SET
    sequence = CASE CAST(:resolution AS text)
        WHEN 'applied' THEN GREATEST(COALESCE(sequence, 0), CAST(:sequence AS bigint))
        WHEN 'bad_seq' THEN NULL
        ELSE sequence END,
    submission_key = NULL, tx_hash = NULL, envelope_sequence = NULL, max_time = NULL,
    auth_expiration_ledger = NULL, lease_owner = NULL, leased_until = NULL, updated_at = now()
WHERE public_key = :public_key
  AND ((CAST(:tx_hash AS text) IS NOT NULL AND tx_hash = :tx_hash)
       OR (submission_key IS NULL AND lease_owner = CAST(:token AS text)))
""")

_STUCK = text("""
SELECT public_key, tx_hash, envelope_sequence, COALESCE(max_time, 0), COALESCE(auth_expiration_ledger, 0)
FROM soroban_channels
WHERE public_key = ANY(:keys) AND submission_key IS NOT NULL AND (leased_until IS NULL OR leased_until < now())
ORDER BY public_key
""").bindparams(_KEYS)


async def ensure_channels(sessions: async_sessionmaker[AsyncSession], *, public_keys: list[str]) -> None:
    """Insert a row for every configured channel that has none (existing rows are kept)."""
    if not public_keys:
        return
    async with sessions() as session, session.begin():
        await session.execute(
            text("INSERT INTO soroban_channels (public_key) SELECT unnest(:keys) ON CONFLICT DO NOTHING").bindparams(_KEYS),
            {"keys": public_keys},
        )


async def lease_free(
    sessions: async_sessionmaker[AsyncSession], *, public_keys: list[str], token: str, lease_seconds: float,
    balance_check_seconds: float,
) -> LeasedRow | None:
    """Lease the least recently used free channel among ``public_keys`` for ``lease_seconds``."""
    async with sessions() as session, session.begin():
        row = (await session.execute(_LEASE, {
            "keys": public_keys, "token": token, "ttl": lease_seconds, "check": balance_check_seconds,
        })).first()
    return LeasedRow(row[0], row[1], bool(row[2])) if row else None


async def bind_envelope(
    session: AsyncSession, *, public_key: str, token: str, key: str, tx_hash: str, sequence: int, max_time: int,
    auth_expiration_ledger: int,
) -> bool:
    """Bind a stored envelope to its leased channel, in the caller's transaction.

    Returns False (bind nothing) when the lease ``token`` is no longer held.
    """
    result = await session.execute(_BIND, {
        "public_key": public_key, "token": token, "key": key, "tx_hash": tx_hash, "sequence": sequence,
        "max_time": max_time, "auth_expiry": auth_expiration_ledger,
    })
    return result.rowcount == 1  # type: ignore[attr-defined]


async def release(
    sessions: async_sessionmaker[AsyncSession], *, public_key: str, resolution: str, sequence: int | None,
    tx_hash: str | None, token: str | None,
) -> bool:
    """Free ``public_key`` for envelope ``tx_hash`` (or unbound lease ``token``); True if it was."""
    async with sessions() as session, session.begin():
        result = await session.execute(_RELEASE, {
            "public_key": public_key, "resolution": resolution, "sequence": sequence, "tx_hash": tx_hash,
            "token": token,
        })
    return result.rowcount == 1  # type: ignore[attr-defined]


async def list_stuck(sessions: async_sessionmaker[AsyncSession], *, public_keys: list[str]) -> list[StuckRow]:
    async with sessions() as session:
        rows = (await session.execute(_STUCK, {"keys": public_keys})).all()
    return [StuckRow(r[0], r[1], r[2], r[3], r[4]) for r in rows]


async def record_account(
    sessions: async_sessionmaker[AsyncSession], *, public_key: str, balance_stroops: int, sequence: int | None,
) -> None:
    """Store the balance read from the network (and its sequence number, when no envelope is bound)."""
    async with sessions() as session, session.begin():
        await session.execute(text("""
            UPDATE soroban_channels SET balance_stroops = :balance, balance_checked_at = now(), updated_at = now(),
                   sequence = CASE WHEN submission_key IS NULL AND CAST(:sequence AS bigint) IS NOT NULL
                                   THEN CAST(:sequence AS bigint) ELSE sequence END
            WHERE public_key = :public_key
        """), {"public_key": public_key, "balance": balance_stroops, "sequence": sequence})


async def balances(session: AsyncSession) -> dict[str, int]:
    """Last seen balance (stroops) per channel whose balance was read at least once."""
    rows = (await session.execute(
        text("SELECT public_key, balance_stroops FROM soroban_channels WHERE balance_stroops IS NOT NULL")
    )).all()
    return {r[0]: r[1] for r in rows}
