"""``/api/admin/audit-logs``: the audit trail, for admins and compliance officers."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import AwareDatetime

from api.auth.dependencies import ROLE_RESPONSES, AuditReaderAuth
from api.deps import SessionDep
from api.pagination import CursorPage, PageDep, build_page
from api.schemas.audit_logs import AuditLogEntry
from db.queries import audit_logs
from db.queries.audit_logs import AuditFilter

router = APIRouter(prefix="/admin/audit-logs", tags=["admin"])


@router.get("", responses=ROLE_RESPONSES)
async def list_audit_logs(
    reader: AuditReaderAuth,
    session: SessionDep,
    page: PageDep,
    user_id: Annotated[uuid.UUID | None, Query(description="Actor")] = None,
    action: Annotated[str | None, Query(max_length=100)] = None,
    resource_type: Annotated[str | None, Query(max_length=100)] = None,
    resource_id: Annotated[str | None, Query(max_length=200)] = None,
    since: Annotated[AwareDatetime | None, Query(description="created_at >= since (ISO 8601)")] = None,
    until: Annotated[AwareDatetime | None, Query(description="created_at < until (ISO 8601)")] = None,
) -> CursorPage[AuditLogEntry]:
    """Audit rows, newest first, filtered by actor, action, resource and time."""
    where = AuditFilter(user_id, action, resource_type, resource_id, since, until)
    rows = await audit_logs.list_page(session, where=where, after=page.after, limit=page.limit)
    return build_page(rows, page, AuditLogEntry.of)
