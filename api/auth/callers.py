"""The caller of a read-only route, checked against :class:`api.auth.cache.AuthCache` first.

Same checks as :func:`api.auth.dependencies.principal_for_token` (signature and claims, revoked
``jti``, account active, role and token cut-off), but what it needs of Postgres comes from the
process's cache when the cache is live, and otherwise from one query on a bare connection
(:func:`db.queries.users.get_auth_state`). It yields a :class:`Caller`, not the ORM ``User``:
routes that change the account, or show it, keep using ``UserAuth``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from api.auth.cache import AccountState, AuthCache
from api.auth.dependencies import AuthDep, bearer_token, unauthenticated
from api.auth.tokens import InvalidToken, TokenClaims
from api.deps import ReadConnectionDep
from db.queries import users


@dataclass(frozen=True)
class Caller:
    """An authenticated caller known by id and role only."""

    user_id: uuid.UUID
    claims: TokenClaims


async def get_auth_cache(request: Request) -> AuthCache:
    """The app's (= the API process's) :class:`AuthCache`, built in ``api.app.create_app``."""
    return request.app.state.auth_cache


AuthCacheDep = Annotated[AuthCache, Depends(get_auth_cache)]


async def cached_caller(
    token: Annotated[str, Depends(bearer_token)], reader: ReadConnectionDep, auth: AuthDep, cache: AuthCacheDep
) -> Caller:
    """The caller behind a valid, unrevoked token whose account is still as the token says.

    Raises:
        ApiError: 401 ``invalid_token`` (bad or expired token, revoked, account gone, deactivated,
            role changed or tokens cut off since it was issued).
    """
    claims = cache.verified_claims(token)
    if claims is None:
        try:
            claims = auth.tokens.decode(token)
        except InvalidToken:
            raise unauthenticated("invalid_token", "the token is invalid or expired") from None
        cache.remember_verified(token, claims)
    revoked, account = cache.revoked(claims.jti), cache.account(claims.user_id)
    if revoked is None or account is None:
        ticket = cache.ticket()  # before the read: a change announced meanwhile voids the fill
        row = await users.get_auth_state(await reader.get(), user_id=claims.user_id, jti=claims.jti)
        if row is None:
            raise unauthenticated("invalid_token", "the token no longer matches the account")
        cut_off = row.tokens_valid_after
        revoked = row.revoked
        account = AccountState(row.is_active, row.role, None if cut_off is None else int(cut_off.timestamp()))
        cache.fill(ticket, jti=claims.jti, revoked=revoked, user_id=claims.user_id, account=account)
    if revoked:
        raise unauthenticated("invalid_token", "the token was revoked")
    if not account.admits(claims):
        raise unauthenticated("invalid_token", "the token no longer matches the account")
    return Caller(user_id=claims.user_id, claims=claims)


#: Any signed-in, active account, for read-only routes that need only who is calling.
CachedUserAuth = Annotated[Caller, Depends(cached_caller)]
