"""Register, login and token payloads (docs/SEED.md "Authentication Endpoints")."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from api.schemas.rules import apply_rule
from api.schemas.users import UserPublic, stellar_address_or_none
from domain.emails import normalise_email
from domain.passwords import check_password

#: Upper bound on what login accepts, so a huge body cannot make one verification expensive.
MAX_LOGIN_PASSWORD_LENGTH = 1024


class RegisterRequest(BaseModel):
    """New account. Unknown fields (``role``, ``is_active``…) are refused, not ignored."""

    model_config = ConfigDict(extra="forbid")

    email: str = Field(max_length=320)
    password: str
    stellar_address: str | None = None

    @field_validator("email")
    @classmethod
    def _normalise_email(cls, value: str) -> str:
        return apply_rule(normalise_email, value)

    @field_validator("password")
    @classmethod
    def _check_password(cls, value: str, info: ValidationInfo) -> str:
        email = info.data.get("email")
        context = (email, email.split("@", 1)[0]) if email else ()
        apply_rule(check_password, value, context=context)
        return value

    @field_validator("stellar_address")
    @classmethod
    def _check_stellar(cls, value: str | None) -> str | None:
        return stellar_address_or_none(value)


class LoginRequest(BaseModel):
    """Credentials. The e-mail is normalised by the login flow, not here: a malformed address
    must fail exactly like an unknown one."""

    model_config = ConfigDict(extra="forbid")

    email: Annotated[str, Field(max_length=320)]
    password: Annotated[str, Field(max_length=MAX_LOGIN_PASSWORD_LENGTH)]


class RegisterResponse(BaseModel):
    token: str
    user: UserPublic


class LoginResponse(BaseModel):
    token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int
    """Seconds until the token expires."""
    user: UserPublic
