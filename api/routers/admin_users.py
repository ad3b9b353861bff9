"""``/api/admin/users``: admins list accounts, change roles and deactivate accounts."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from api.auth import account_changes
from api.auth.callers import AuthCacheDep
from api.auth.dependencies import ROLE_RESPONSES, AdminAuth, RequestMetaDep
from api.deps import SessionDep
from api.pagination import CursorPage, PageDep, build_page
from api.schemas.users import RoleChange, UserPublic
from db.queries import users
from domain.roles import Role

router = APIRouter(prefix="/admin/users", tags=["admin"])
_CHANGE_RESPONSES = {
    **ROLE_RESPONSES,
    404: {"description": "user_not_found"},
    409: {"description": "self_modification"},
}


@router.get("", responses=ROLE_RESPONSES)
async def list_users(
    admin: AdminAuth, session: SessionDep, page: PageDep, role: Role | None = None, is_active: bool | None = None
) -> CursorPage[UserPublic]:
    """Accounts, newest first, optionally of one role or activity state."""
    rows = await users.list_page(
        session, after=page.after, limit=page.limit, role=role.value if role else None, is_active=is_active
    )
    return build_page(rows, page, UserPublic.of)


@router.put("/{user_id}/role", responses=_CHANGE_RESPONSES)
async def change_role(
    user_id: uuid.UUID, body: RoleChange, admin: AdminAuth, session: SessionDep, meta: RequestMetaDep,
    cache: AuthCacheDep,
) -> UserPublic:
    """Give an account another role; its live tokens stop working at once."""
    user = await account_changes.change_role(session, admin, meta, user_id=user_id, role=body.role)
    cache.forget_account(user_id)  # every replica also forgets it on the NOTIFY at commit
    return UserPublic.of(user)


@router.post("/{user_id}/deactivate", responses=_CHANGE_RESPONSES)
async def deactivate_user(
    user_id: uuid.UUID, admin: AdminAuth, session: SessionDep, meta: RequestMetaDep, cache: AuthCacheDep
) -> UserPublic:
    """Deactivate an account: it can no longer log in and its live tokens stop working at once."""
    user = await account_changes.deactivate(session, admin, meta, user_id=user_id)
    cache.forget_account(user_id)  # every replica also forgets it on the NOTIFY at commit
    return UserPublic.of(user)
