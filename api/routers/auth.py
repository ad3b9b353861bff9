"""``/api/auth``: register, login, logout, and who am I."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response, status

from api.auth import accounts
from api.auth.callers import AuthCacheDep
from api.auth.dependencies import AUTH_RESPONSES, AuthDep, RequestMetaDep, UserAuth, limit_registrations_per_ip
from api.deps import SessionDep, StateDep
from api.schemas.auth import LoginRequest, LoginResponse, RegisterRequest, RegisterResponse
from api.schemas.users import UserPublic

router = APIRouter(prefix="/auth", tags=["auth"])


@router.post(
    "/register",
    status_code=status.HTTP_201_CREATED,
    dependencies=[Depends(limit_registrations_per_ip)],
    responses={409: {"description": "email_taken"}, 422: {"description": "invalid e-mail, password or Stellar address"},
               429: {"description": "rate_limited (Retry-After)"}},
)
async def register(body: RegisterRequest, session: SessionDep, auth: AuthDep, meta: RequestMetaDep) -> RegisterResponse:
    """Create an account with the ``user`` role and return a token for it."""
    user, token = await accounts.register(
        session, auth, meta, email=body.email, password=body.password, stellar_address=body.stellar_address
    )
    return RegisterResponse(token=token.token, user=UserPublic.of(user))


@router.post(
    "/login",
    responses={401: {"description": "invalid_credentials"},
               429: {"description": "account_locked (too many wrong passwords for the account) or rate_limited "
                                    "(too many failures, or sign-ins, from your IP); Retry-After says when"}},
)
async def login(
    body: LoginRequest, session: SessionDep, state: StateDep, auth: AuthDep, meta: RequestMetaDep
) -> LoginResponse:
    """Exchange e-mail and password for a bearer token."""
    user, token = await accounts.log_in(
        session, state.sessions, auth, meta, email=body.email, password=body.password
    )
    return LoginResponse(token=token.token, expires_in=token.expires_in, user=UserPublic.of(user))


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT, responses=AUTH_RESPONSES)
async def logout(principal: UserAuth, session: SessionDep, meta: RequestMetaDep, cache: AuthCacheDep) -> Response:
    """Revoke the token of this request; it answers 401 from now on, on every replica."""
    await accounts.log_out(session, principal, meta)
    cache.note_revoked(principal.claims.jti)  # here at once; other replicas on the NOTIFY at commit
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/me", responses=AUTH_RESPONSES)
async def me(principal: UserAuth) -> UserPublic:
    """The signed-in account."""
    return UserPublic.of(principal.user)
