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
NOTIFY_WAITING = "notify_kyc_waiting_deposits"
#: ``ApplicationError.type`` when the record lacks a field the registration needs: the workflow
#: waits for the user (``PUT /api/kyc/records/{id}``), never for an operator.
KYC_DATA_MISSING = "kyc_data_missing"
#: Signal the API sends when the user supplied a missing field.
DATA_SUPPLIED_SIGNAL = "data_supplied"


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


@dataclass(frozen=True)
class KycChangedInput:
    """The user's KYC moved (under review, approved, rejected): wake their waiting deposits."""

    user_id: str
    record_id: str


@dataclass(frozen=True)
class NotifyResult:
    """Deposits told about the change: ``signalled`` waiting ones, ``retried`` older parked ones."""

    signalled: int
    retried: int


@dataclass(frozen=True)
class DataSupplied:
    """Payload of ``data_supplied``: which fields the user added (names only, never values)."""

    fields: list[str]
