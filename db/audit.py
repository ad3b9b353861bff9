"""Writing ``audit_logs`` rows inside the caller's transaction, with secrets redacted."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from db.models import AuditLog

#: Keys whose values never reach the audit log (matched case-insensitively, also as suffixes).
SECRET_KEYS = ("password", "password_hash", "token", "jwt", "secret", "document_number", "private_key")
REDACTED = "[redacted]"


def redact(values: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Copy ``values`` with every secret-looking key replaced by ``[redacted]`` (recursively)."""
    if values is None:
        return None
    out: dict[str, Any] = {}
    for key, value in values.items():
        lowered = key.lower()
        if any(lowered == k or lowered.endswith("_" + k) for k in SECRET_KEYS):
            out[key] = REDACTED
        elif isinstance(value, Mapping):
            out[key] = redact(value)
        else:
            out[key] = value
    return out


def record_audit(
    session: AsyncSession,
    *,
    action: str,
    resource_type: str,
    resource_id: str | uuid.UUID | None = None,
    actor_id: uuid.UUID | None = None,
    old_values: Mapping[str, Any] | None = None,
    new_values: Mapping[str, Any] | None = None,
    ip_address: str | None = None,
    user_agent: str | None = None,
) -> AuditLog:
    """Add one audit row to ``session``; it commits or rolls back with the change it records."""
    row = AuditLog(
        user_id=actor_id,
        action=action,
        resource_type=resource_type,
        resource_id=str(resource_id) if resource_id is not None else None,
        old_values=redact(old_values),
        new_values=redact(new_values),
        ip_address=ip_address,
        user_agent=user_agent,
    )
    session.add(row)
    return row
