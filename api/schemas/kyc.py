"""KYC payloads. Document numbers come in once and never go out unmasked."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints
from pydantic_core import PydanticCustomError

from domain.countries import is_country, normalise_country
from domain.kyc import DecisionKind, KycTier

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


def _country(value: str) -> str:
    code = normalise_country(value)
    if not is_country(code):
        raise PydanticCustomError("country_unknown", "not an assigned ISO 3166-1 alpha-2 country code (e.g. CH, DE, US)")
    return code


Country = Annotated[
    str,
    StringConstraints(max_length=8),
    AfterValidator(_country),
    Field(
        description="ISO 3166-1 alpha-2 code of the country whose rules apply to you (e.g. CH). Required for "
        "every tier: each approval registers it on kyc_registry as your jurisdiction.",
        examples=["CH"],
    ),
]


class VerificationData(BaseModel):
    """The submitted documents (SEP-12 style fields; extra fields are kept, encrypted)."""

    model_config = ConfigDict(extra="allow")

    document_type: Literal["passport", "national_id", "drivers_license"]
    document_number: Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=64)]
    full_name: Text
    date_of_birth: str | None = Field(None, max_length=32)
    country: Country
    """ISO 3166-1 alpha-2; registered on chain as the jurisdiction (domain.kyc.JURISDICTION_REQUIRED_FROM_TIER)."""


class KycSubmission(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tier: Annotated[int, Field(ge=KycTier.BASIC, le=KycTier.INSTITUTIONAL)]
    verification_data: VerificationData


class KycRecordUpdate(BaseModel):
    """``PUT /api/kyc/records/{record_id}``: add what a pending submission lacks (``country``)."""

    model_config = ConfigDict(extra="forbid")

    country: Country


class KycRecordUpdated(BaseModel):
    record_id: uuid.UUID
    status: str
    missing_fields: list[str]
    """Fields the record still lacks for its registration (empty: the review goes on)."""


class KycSubmitted(BaseModel):
    record_id: uuid.UUID
    status: str
    workflow_id: str


class LimitOut(BaseModel):
    """Per-operation limits in satoshis for the caller's tier, with what is used and left."""

    single_sats: int
    daily_sats: int
    monthly_sats: int
    daily_used_sats: int
    monthly_used_sats: int
    daily_left_sats: int
    monthly_left_sats: int


class KycStatusOut(BaseModel):
    status: str
    """Latest submission's status (``none`` when the user never submitted)."""
    tier: int
    """Effective tier: highest approved, unexpired record (0 when none)."""
    expires_at: datetime | None
    record_id: uuid.UUID | None
    limits: dict[str, LimitOut | None]
    """``deposit`` and ``withdrawal``; ``null`` when the tier allows no such operation."""
    missing_fields: list[str] = []
    """Fields the latest (pending) submission lacks for its registration, e.g.
    ``verification_data.country``: add them with ``PUT /api/kyc/records/{record_id}``."""
    action: str | None = None
    """What the user can do next, in words (``null`` when nothing is needed)."""


class KycReviewItem(BaseModel):
    record_id: uuid.UUID
    user_id: uuid.UUID
    email: str
    tier: int
    status: str
    document_type: str | None
    document_number_masked: str | None
    full_name: str | None
    country: str | None
    created_at: datetime


class KycDecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decision: DecisionKind
    reason: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] | None = None


class KycDecisionOut(BaseModel):
    record_id: uuid.UUID
    decision: DecisionKind
    stage: str
