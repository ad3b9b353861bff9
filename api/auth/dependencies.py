"""Who is calling and what they may do, as ``Annotated`` dependencies for route signatures.

``UserAuth`` admits any signed-in, active account; ``AdminAuth``, ``OperatorAuth``,
``ComplianceAuth`` and ``AuditReaderAuth`` admit the roles they name (admins where stated).
Failures are problem+json: ``401`` (no, bad, expired or revoked token; account gone, deactivated
or changed since the token was issued) with ``WWW-Authenticate: Bearer``, ``403`` for a wrong role.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth import rate_limit
from api.auth.services import AuthServices
from api.auth.tokens import InvalidToken, TokenClaims
from api.deps import SessionDep, StateDep
from api.errors import ApiError
from db.models import User
from db.queries import revoked_tokens, users
from domain.roles import Role
from services.actor import Actor

#: Longest user agent kept in audit rows; longer ones are cut (they are free text from clients).
MAX_USER_AGENT_LENGTH = 512
#: For ``responses=`` of authenticated routes (OpenAPI documentation).
AUTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing, invalid, expired or revoked token (problem+json)"},
}
ROLE_RESPONSES: dict[int | str, dict[str, Any]] = {
    **AUTH_RESPONSES,
    403: {"description": "The account's role may not use this route (problem+json)"},
}


async def get_auth(request: Request) -> AuthServices:
    return request.app.state.auth


AuthDep = Annotated[AuthServices, Depends(get_auth)]


@dataclass(frozen=True)
class RequestMeta:
    """Where a request came from, for audit rows and rate limits."""

    ip_address: str | None
    user_agent: str | None


async def get_request_meta(request: Request, auth: AuthDep) -> RequestMeta:
    peer = request.client.host if request.client else None
    ip = auth.client_ips.resolve(peer, request.headers.getlist("x-forwarded-for"))
    agent = request.headers.get("user-agent")
    return RequestMeta(ip_address=ip, user_agent=agent[:MAX_USER_AGENT_LENGTH] if agent else None)


RequestMetaDep = Annotated[RequestMeta, Depends(get_request_meta)]


async def limit_registrations_per_ip(state: StateDep, auth: AuthDep, meta: RequestMetaDep) -> None:
    """Count a registration attempt against the caller's IP (429 over ``auth.registrations_per_ip``)."""
    await rate_limit.enforce(
        state.sessions, bucket=rate_limit.registration_bucket(meta.ip_address), limit=auth.registrations_per_ip,
        window_seconds=auth.registration_window_seconds,
        detail="too many registrations from your network; retry after the time in Retry-After",
    )


@dataclass(frozen=True)
class Principal:
    """The authenticated caller: the current ``users`` row and the token's verified claims."""

    user: User
    claims: TokenClaims


def actor_of(principal: Principal, meta: RequestMeta) -> Actor:
    """The service layer's view of who acts (the authenticated user) and from where."""
    return Actor(principal.user, meta.ip_address, meta.user_agent)


def unauthenticated(code: str, detail: str) -> ApiError:
    """A 401 problem with the RFC 6750 ``WWW-Authenticate`` challenge."""
    challenge = 'Bearer error="invalid_token"' if code == "invalid_token" else "Bearer"
    return ApiError(401, code, detail, headers={"WWW-Authenticate": challenge})


async def bearer_token(request: Request) -> str:
    """The token of ``Authorization: Bearer <token>`` (RFC 6750 §2.1).

    Raises:
        ApiError: 401 ``unauthenticated`` when the header is absent, ``invalid_token`` when it is
            not a single bearer credential.
    """
    header = request.headers.get("authorization")
    if not header:
        raise unauthenticated("unauthenticated", "authentication required")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        raise unauthenticated("invalid_token", "malformed Authorization header")
    return token


def _is_current(user: User, claims: TokenClaims) -> bool:
    """False when the account is deactivated, its role changed, or a cut-off was set after the
    token was issued (``tokens_valid_after`` is whole seconds, like ``iat``)."""
    if not user.is_active or user.role != claims.role.value:
        return False
    cut_off = user.tokens_valid_after
    return cut_off is None or claims.issued_at >= int(cut_off.timestamp())


async def current_principal(
    token: Annotated[str, Depends(bearer_token)], session: SessionDep, auth: AuthDep
) -> Principal:
    """The caller behind a valid, unrevoked token whose account is still as the token says."""
    return await principal_for_token(token, session, auth)


async def principal_for_token(token: str, session: AsyncSession, auth: AuthServices) -> Principal:
    """Verify ``token`` as :func:`current_principal` does (also used by the WebSocket, where the
    token comes in a query parameter or the first message).

    Raises:
        ApiError: 401 ``invalid_token``.
    """
    try:
        claims = auth.tokens.decode(token)
    except InvalidToken:
        raise unauthenticated("invalid_token", "the token is invalid or expired") from None
    if await revoked_tokens.is_revoked(session, jti=claims.jti):
        raise unauthenticated("invalid_token", "the token was revoked")
    user = await users.get_by_id(session, user_id=claims.user_id)
    if user is None or not _is_current(user, claims):
        raise unauthenticated("invalid_token", "the token no longer matches the account")
    return Principal(user=user, claims=claims)


CurrentUser = Annotated[Principal, Depends(current_principal)]
UserAuth = CurrentUser


def require_role(*roles: Role) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency admitting callers whose role is one of ``roles`` (403 ``forbidden`` otherwise)."""
    allowed = frozenset(roles)

    async def dependency(principal: CurrentUser) -> Principal:
        if principal.claims.role not in allowed:
            raise ApiError(403, "forbidden", "your role may not use this route")
        return principal

    dependency.__name__ = "require_" + "_or_".join(r.value for r in roles)
    return dependency


AdminAuth = Annotated[Principal, Depends(require_role(Role.ADMIN))]
OperatorAuth = Annotated[Principal, Depends(require_role(Role.OPERATOR, Role.ADMIN))]
ComplianceAuth = Annotated[Principal, Depends(require_role(Role.COMPLIANCE_OFFICER, Role.ADMIN))]
#: Who may read the audit log (issue 3): admins and compliance officers.
AuditReaderAuth = ComplianceAuth
