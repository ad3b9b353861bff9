"""KYC payloads. Document numbers come in once and never go out unmasked."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from domain.kyc import DecisionKind, KycTier

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class VerificationData(BaseModel):
    """The submitted documents (SEP-12 style fields; extra fields are kept, encrypted)."""

    model_config = ConfigDict(extra="allow")

    document_type: Literal["passport", "national_id", "drivers_license"]
    document_number: Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=64)]
    full_name: Text
    date_of_birth: str | None = Field(None, max_length=32)
    country: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")] | None = None
    """ISO 3166-1 alpha-2; registered on chain as the jurisdiction."""


class KycSubmission(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tier: Annotated[int, Field(ge=KycTier.BASIC, le=KycTier.INSTITUTIONAL)]
    verification_data: VerificationData


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
