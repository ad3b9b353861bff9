"""``/api/users``: the signed-in user's own profile (there is no way to name another user here)."""

from __future__ import annotations

from fastapi import APIRouter

from api.auth import account_changes
from api.auth.dependencies import AUTH_RESPONSES, RequestMetaDep, UserAuth
from api.deps import SessionDep
from api.schemas.users import ProfileUpdate, UserPublic

router = APIRouter(prefix="/users", tags=["users"])


@router.get("/profile", responses=AUTH_RESPONSES)
async def get_profile(principal: UserAuth) -> UserPublic:
    """The caller's profile."""
    return UserPublic.of(principal.user)


@router.put("/profile", responses={**AUTH_RESPONSES, 422: {"description": "invalid name or Stellar address"}})
async def update_profile(body: ProfileUpdate, principal: UserAuth, session: SessionDep, meta: RequestMetaDep) -> UserPublic:
    """Change the caller's names or Stellar address (fields left out are kept, ``null`` clears)."""
    user = await account_changes.update_profile(session, principal, meta, body.changes())
    return UserPublic.of(user)
