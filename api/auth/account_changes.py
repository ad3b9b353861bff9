"""Changes to accounts after registration: the owner's profile, an admin's role change and
deactivation. Each writes one audit row (old and new values) in the request's transaction."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth.dependencies import Principal, RequestMeta
from db.audit import record_audit
from db.models import User
from db.queries import users
from domain.errors import NotFound
from domain.roles import Role, check_not_self
from domain.stellar_accounts import StellarAddressTaken


def _now() -> datetime:
    return datetime.now(UTC)


def _cut_off_tokens(user: User, now: datetime) -> None:
    # Whole seconds, like the ``iat`` it is compared with: tokens issued in an earlier second are
    # dead. Tokens from the same second are stopped by the role or is_active check instead.
    user.tokens_valid_after = now.replace(microsecond=0)


async def _target(session: AsyncSession, user_id: uuid.UUID) -> User:
    user = await users.get_by_id(session, user_id=user_id, for_update=True)
    if user is None:
        raise NotFound("no such user", code="user_not_found")
    return user


async def update_profile(
    session: AsyncSession, principal: Principal, meta: RequestMeta, changes: dict[str, str | None]
) -> User:
    """Set the caller's own profile fields (names, Stellar address); only real changes are audited.

    Raises:
        StellarAddressTaken: another account names the new Stellar address (also when a
            concurrent change won the race).
    """
    user = principal.user
    changed = {k: v for k, v in changes.items() if getattr(user, k) != v}
    address = changed.get("stellar_address")
    if address is not None and await users.stellar_address_taken(session, address=address, other_than=user.id):
        raise StellarAddressTaken("another account names this Stellar account")
    if changed:
        old = {k: getattr(user, k) for k in changed}
        for key, value in changed.items():
            setattr(user, key, value)
        user.updated_at = _now()
        record_audit(
            session, action="user.profile_updated", resource_type="user", resource_id=user.id,
            actor_id=user.id, old_values=old, new_values=changed,
            ip_address=meta.ip_address, user_agent=meta.user_agent,
        )
        try:
            await session.flush()
        except IntegrityError as exc:
            if users.violates_stellar_address_unique(exc):
                raise StellarAddressTaken("another account names this Stellar account") from None
            raise
    return user


async def change_role(
    session: AsyncSession, admin: Principal, meta: RequestMeta, *, user_id: uuid.UUID, role: Role
) -> User:
    """Give ``user_id`` a new role; their live tokens stop working at once.

    Raises:
        SelfModification: an admin changing their own role.
        NotFound: ``user_not_found`` (404).
    """
    check_not_self(admin.user.id, user_id)
    user = await _target(session, user_id)
    if user.role != role.value:
        old_role, now = user.role, _now()
        user.role, user.updated_at = role.value, now
        _cut_off_tokens(user, now)
        record_audit(
            session, action="user.role_changed", resource_type="user", resource_id=user.id,
            actor_id=admin.user.id, old_values={"role": old_role}, new_values={"role": role.value},
            ip_address=meta.ip_address, user_agent=meta.user_agent,
        )
    return user


async def deactivate(session: AsyncSession, admin: Principal, meta: RequestMeta, *, user_id: uuid.UUID) -> User:
    """Deactivate ``user_id``: no more logins, and their live tokens stop working at once.

    Raises:
        SelfModification: an admin deactivating themselves.
        NotFound: ``user_not_found`` (404).
    """
    check_not_self(admin.user.id, user_id)
    user = await _target(session, user_id)
    if user.is_active:
        now = _now()
        user.is_active, user.updated_at = False, now
        _cut_off_tokens(user, now)
        record_audit(
            session, action="user.deactivated", resource_type="user", resource_id=user.id,
            actor_id=admin.user.id, old_values={"is_active": True}, new_values={"is_active": False},
            ip_address=meta.ip_address, user_agent=meta.user_agent,
        )
    return user
