"""Audit log entries as ``GET /api/admin/audit-logs`` shows them."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from db.models import AuditLog


class AuditLogEntry(BaseModel):
    id: uuid.UUID
    user_id: uuid.UUID | None
    """The actor; None for the engine itself or an anonymous caller."""
    action: str
    resource_type: str
    resource_id: str | None
    old_values: dict[str, Any] | None
    new_values: dict[str, Any] | None
    ip_address: str | None
    user_agent: str | None
    created_at: datetime

    @classmethod
    def of(cls, row: AuditLog) -> AuditLogEntry:
        data = {name: getattr(row, name) for name in cls.model_fields}
        # psycopg returns INET as an ipaddress object; clients get its text form.
        data["ip_address"] = str(row.ip_address) if row.ip_address is not None else None
        return cls.model_validate(data)
