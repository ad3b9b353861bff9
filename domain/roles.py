"""Who may do what: the four roles and the rule that an admin cannot act on their own account.

A role is stored as text on ``users.role`` (a CHECK constraint holds the same list) and carried in
the ``role`` claim of every access token.
"""

from __future__ import annotations

import uuid
from enum import StrEnum

from domain.errors import DomainError


class Role(StrEnum):
    """Account roles, least to most privileged in practice (no role inherits another's routes
    implicitly; each route lists the roles it admits)."""

    USER = "user"
    OPERATOR = "operator"
    COMPLIANCE_OFFICER = "compliance_officer"
    ADMIN = "admin"


class SelfModification(DomainError):
    """An admin tried to change the role of, or deactivate, their own account."""

    code = "self_modification"


def check_not_self(actor_id: uuid.UUID, target_id: uuid.UUID) -> None:
    """Refuse an admin action aimed at the actor's own account.

    Why: an admin demoting or deactivating themselves can leave the system with no admin at all,
    and a second person should witness any change to an admin's own privileges.

    Raises:
        SelfModification: ``actor_id == target_id``.
    """
    if actor_id == target_id:
        raise SelfModification("admins cannot change their own role or deactivate themselves")
