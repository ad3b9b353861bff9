"""Account payloads: what clients may see of a user, and what they may change."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints, field_validator

from api.schemas.rules import apply_rule
from db.models import User
from domain.roles import Role
from domain.stellar_accounts import check_account_strkey

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


def stellar_address_or_none(value: str | None) -> str | None:
    """Pydantic validator body: None passes, anything else must be an account strkey."""
    return None if value is None else apply_rule(check_account_strkey, value)


class UserPublic(BaseModel):
    """A user as the API shows it (never the password hash or token cut-off)."""

    id: uuid.UUID
    email: str
    role: Role
    is_active: bool
    stellar_address: str | None
    first_name: str | None
    last_name: str | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, user: User) -> UserPublic:
        return cls.model_validate(user, from_attributes=True)


class ProfileUpdate(BaseModel):
    """``PUT /api/users/profile``: fields sent are set (``null`` clears); fields left out are kept."""

    model_config = ConfigDict(extra="forbid")

    first_name: Name | None = None
    last_name: Name | None = None
    stellar_address: str | None = None

    @field_validator("stellar_address")
    @classmethod
    def _check_stellar(cls, value: str | None) -> str | None:
        return stellar_address_or_none(value)

    def changes(self) -> dict[str, str | None]:
        return {name: getattr(self, name) for name in self.model_fields_set}


class RoleChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Role
