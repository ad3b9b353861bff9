"""Who acts in a request and from where: what a service needs for its audit rows."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from db.models import User


@dataclass(frozen=True)
class Actor:
    """The authenticated user behind a request, with the request's origin for the audit trail.

    Args:
        user: the current ``users`` row (its role was checked by the API).
        ip_address: the client's address as the API resolved it (None when unknown).
        user_agent: the client's ``User-Agent`` (already truncated by the API).
    """

    user: User
    ip_address: str | None = None
    user_agent: str | None = None

    @property
    def id(self) -> uuid.UUID:
        """The user's id."""
        return self.user.id
