"""Reading and writing ``users`` rows, by intent."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from db.models import User
from db.queries.keyset import Position, newest_first

#: The unique index of ``users.stellar_address`` (migration 0020).
STELLAR_ADDRESS_UNIQUE = "uq_users_stellar_address"


async def get_by_id(session: AsyncSession, *, user_id: uuid.UUID, for_update: bool = False) -> User | None:
    """The user, or None. ``for_update`` locks the row until the transaction ends."""
    stmt = select(User).where(User.id == user_id)
    if for_update:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def get_by_email(session: AsyncSession, *, email: str) -> User | None:
    """The user with this normalised e-mail address, or None."""
    return (await session.execute(select(User).where(User.email == email))).scalar_one_or_none()


async def email_exists(session: AsyncSession, *, email: str) -> bool:
    return (await session.execute(select(User.id).where(User.email == email))).first() is not None


async def stellar_address_taken(session: AsyncSession, *, address: str, other_than: uuid.UUID | None = None) -> bool:
    """Whether an account (other than ``other_than``) already names Stellar account ``address``."""
    stmt = select(User.id).where(User.stellar_address == address)
    if other_than is not None:
        stmt = stmt.where(User.id != other_than)
    return (await session.execute(stmt)).first() is not None


def violates_stellar_address_unique(exc: IntegrityError) -> bool:
    """Whether ``exc`` is the one-account-per-Stellar-account index refusing a write."""
    return getattr(getattr(exc.orig, "diag", None), "constraint_name", None) == STELLAR_ADDRESS_UNIQUE


async def list_page(
    session: AsyncSession,
    *,
    after: Position | None,
    limit: int,
    role: str | None = None,
    is_active: bool | None = None,
) -> list[User]:
    """Up to ``limit + 1`` users, newest first, optionally of one role or activity state."""
    stmt = select(User)
    if role is not None:
        stmt = stmt.where(User.role == role)
    if is_active is not None:
        stmt = stmt.where(User.is_active == is_active)
    stmt = newest_first(stmt, created_at=User.created_at, id_=User.id, after=after, limit=limit)
    return list((await session.execute(stmt)).scalars())


@dataclass(frozen=True)
class AuthState:
    """What authenticating one request needs from Postgres, read in one round trip."""

    is_active: bool
    role: str
    tokens_valid_after: datetime | None
    """The token cut-off (``users.tokens_valid_after``), or None."""
    revoked: bool
    """Whether the token's ``jti`` is in ``revoked_tokens``."""


#: Built once: the status-read path runs it on every cache miss, and a prebuilt ``text()`` costs
#: no statement construction or cache-key walk per call.
_AUTH_STATE = text(
    "SELECT u.is_active, u.role, u.tokens_valid_after, "
    "       EXISTS (SELECT 1 FROM revoked_tokens r WHERE r.jti = :jti) AS revoked "
    "FROM users u WHERE u.id = :user_id"
)


async def get_auth_state(conn: AsyncConnection, *, user_id: uuid.UUID, jti: str) -> AuthState | None:
    """The account's state and whether ``jti`` is revoked, in one query; None when the account is gone.

    Takes a bare connection, not a session: it runs on the status-read path, where a session's
    bookkeeping is pure overhead for one read.
    """
    row = (await conn.execute(_AUTH_STATE, {"user_id": user_id, "jti": jti})).first()
    return None if row is None else AuthState(row.is_active, row.role, row.tokens_valid_after, row.revoked)
