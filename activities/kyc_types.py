"""Inputs and outputs of the KYC activities: the contract between ``workflows/kyc.py`` and
``activities/kyc.py``. Plain dataclasses only (the workflow sandbox imports this module), and
record ids only: documents never travel through Temporal payloads."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

SCREEN = "screen_kyc_record"
REJECT = "reject_kyc_record"
REGISTER_ON_CHAIN = "register_kyc_on_chain"
APPROVE = "approve_kyc_record"
EXPIRE = "expire_kyc_record"
REVOKE_ON_CHAIN = "revoke_kyc_on_chain"


@dataclass(frozen=True)
class KycRecordRef:
    record_id: str


@dataclass(frozen=True)
class ScreenResult:
    """Sanctions hits (``"name"``, ``"address:<addr>"``); empty when clear."""

    hits: list[str]


@dataclass(frozen=True)
class RejectInput:
    record_id: str
    reason: str
    officer_id: str | None = None


@dataclass(frozen=True)
class RegisterOnChainInput:
    record_id: str
    expires_at: datetime


@dataclass(frozen=True)
class ApproveInput:
    record_id: str
    approved_at: datetime
    expires_at: datetime
    officer_id: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class ExpireResult:
    """``revoke_on_chain`` is false when a newer approval superseded the record."""

    expired: bool
    revoke_on_chain: bool
