"""Registration, login and logout: the rules around the credentials, and their audit rows.

Every success writes its audit row in the request's transaction. A failed login has no change to
ride on and the request's transaction rolls back on the 401, so its row is written in a
transaction of its own.
"""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.auth import rate_limit
from api.auth.dependencies import Principal, RequestMeta
from api.auth.services import AuthServices
from api.auth.tokens import IssuedToken
from api.errors import ApiError
from db.audit import record_audit
from db.models import User
from db.queries import revoked_tokens, users
from db.session import transaction
from domain.emails import EmailTaken, InvalidEmail, normalise_email
from domain.roles import Role
from domain.stellar_accounts import StellarAddressTaken


def invalid_credentials() -> ApiError:
    """The one answer to every failed login: unknown e-mail, wrong password, deactivated account."""
    return ApiError(401, "invalid_credentials", "the e-mail address or password is wrong")


async def register(
    session: AsyncSession,
    auth: AuthServices,
    meta: RequestMeta,
    *,
    email: str,
    password: str,
    stellar_address: str | None,
) -> tuple[User, IssuedToken]:
    """Create a ``user``-role account and sign it in. ``email`` is already normalised and the
    password already passed the policy (the request schema checks both).

    Raises:
        EmailTaken: the address is registered (also when a concurrent registration won the race).
        StellarAddressTaken: another account names ``stellar_address`` (likewise).
    """
    if await users.email_exists(session, email=email):
        raise EmailTaken("an account with this e-mail address exists")
    if stellar_address is not None and await users.stellar_address_taken(session, address=stellar_address):
        raise StellarAddressTaken("another account names this Stellar account")
    user = User(email=email, password_hash=await auth.passwords.hash_async(password), stellar_address=stellar_address)
    session.add(user)
    try:
        await session.flush()
    except IntegrityError as exc:
        if users.violates_stellar_address_unique(exc):
            raise StellarAddressTaken("another account names this Stellar account") from None
        raise EmailTaken("an account with this e-mail address exists") from None
    token = auth.tokens.issue(user_id=user.id, role=Role(user.role))
    record_audit(
        session, action="auth.register", resource_type="user", resource_id=user.id, actor_id=user.id,
        new_values={"email": email, "role": user.role, "stellar_address": stellar_address},
        ip_address=meta.ip_address, user_agent=meta.user_agent,
    )
    return user, token


async def _record_failed_login(
    sessions: async_sessionmaker[AsyncSession], meta: RequestMeta, *, email: str, user: User | None, reason: str
) -> None:
    async with transaction(sessions) as session:
        record_audit(
            session, action="auth.login_failed", resource_type="user",
            resource_id=user.id if user else None, actor_id=user.id if user else None,
            new_values={"email": email, "reason": reason},
            ip_address=meta.ip_address, user_agent=meta.user_agent,
        )


async def log_in(
    session: AsyncSession,
    sessions: async_sessionmaker[AsyncSession],
    auth: AuthServices,
    meta: RequestMeta,
    *,
    email: str,
    password: str,
) -> tuple[User, IssuedToken]:
    """Check the credentials and issue a token; upgrade the stored hash when parameters changed.

    Unknown e-mail, malformed e-mail, wrong password and deactivated account all raise the same
    :func:`invalid_credentials` after one argon2 verification each, so neither the body nor the
    timing tells them apart. The audit row records which it was.

    Attempt limits (:class:`api.auth.rate_limit.SignInGate`): failures lock the login name with
    backoff and count per IP; successes count only against the per-IP ceiling.

    Raises:
        ApiError: 429 ``rate_limited`` / ``account_locked`` (with ``Retry-After``); 401
            ``invalid_credentials``.
    """
    try:
        login_name = normalise_email(email)
    except InvalidEmail:
        login_name = email.strip().lower()
    gate = rate_limit.SignInGate(sessions, auth, meta.ip_address, login_name)
    await gate.before(session)
    user = await users.get_by_email(session, email=login_name)
    matched = await auth.passwords.verify_async(user.password_hash if user else None, password)
    if user is None or not matched or not user.is_active:
        reason = "unknown_email" if user is None else "wrong_password" if not matched else "inactive"
        await _record_failed_login(sessions, meta, email=login_name, user=user, reason=reason)
        raise await gate.failed() or invalid_credentials()
    await gate.succeeded(session)
    if auth.passwords.needs_rehash(user.password_hash):
        user.password_hash = await auth.passwords.hash_async(password)
    token = auth.tokens.issue(user_id=user.id, role=Role(user.role))
    record_audit(
        session, action="auth.login", resource_type="user", resource_id=user.id, actor_id=user.id,
        new_values={"jti": token.claims.jti}, ip_address=meta.ip_address, user_agent=meta.user_agent,
    )
    return user, token


async def log_out(session: AsyncSession, principal: Principal, meta: RequestMeta) -> None:
    """Revoke the caller's token (by ``jti``, until its ``exp``) and drop revocations of tokens
    that have expired anyway."""
    user, claims = principal.user, principal.claims
    await revoked_tokens.revoke(session, jti=claims.jti, user_id=user.id, expires_at=claims.expires_at)
    await revoked_tokens.purge_expired(session)
    record_audit(
        session, action="auth.logout", resource_type="user", resource_id=user.id, actor_id=user.id,
        new_values={"jti": claims.jti}, ip_address=meta.ip_address, user_agent=meta.user_agent,
    )
