"""Inputs and outputs of the KYC activities: the contract between ``workflows/kyc.py`` and
``activities/kyc.py``. Plain dataclasses only (the workflow sandbox imports this module), and
record ids only: documents never travel through Temporal payloads."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from temporalio import activity

from contracts.deposits import KycChanged
from domain.kyc import APPROVAL_VALIDITY_DAYS

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
WORKFLOW = "KycApprovalWorkflow"
#: Update (and the same as a signal, for the Temporal UI) a compliance officer decides with.
DECIDE_UPDATE = "decide"
DECIDE_SIGNAL = "decide_signal"
#: Signal the API sends when the user supplied a missing field.
DATA_SUPPLIED_SIGNAL = "data_supplied"


@dataclass(frozen=True)
class KycWorkflowInput:
    """Start argument of ``KycApprovalWorkflow`` (id ``kyc-<user id>-<record id>``); the tier asked
    for, the approval's validity in days."""

    record_id: str
    user_id: str
    tier: int
    validity_days: int = APPROVAL_VALIDITY_DAYS


class KycSubmission(Protocol):
    """What :func:`kyc_workflow_input` reads of a KYC record (``db.models.KycRecord`` has it)."""

    @property
    def id(self) -> object: ...

    @property
    def user_id(self) -> object: ...

    @property
    def tier(self) -> int: ...


def kyc_workflow_input(record: KycSubmission, *, validity_days: int) -> KycWorkflowInput:
    """The start argument of ``record``'s approval workflow (the API's submission and the scan's
    heal of a start that failed build it alike).

    Args:
        record: the submitted record: its ``id``, ``user_id`` (both sent as strings) and ``tier``.
        validity_days: how long an approval lasts, in days (``kyc.approval_validity_days``).
    """
    return KycWorkflowInput(record_id=str(record.id), user_id=str(record.user_id), tier=record.tier,
                            validity_days=validity_days)


@dataclass(frozen=True)
class KycState:
    """What ``get_state`` answers."""

    stage: str
    status: str
    error: str | None
    expires_at: datetime | None


@dataclass(frozen=True)
class KycRecordRef:
    """A KYC record by id (``kyc_records.id`` as a string)."""

    record_id: str


@dataclass(frozen=True)
class ScreenResult:
    """Sanctions hits (``"name"``, ``"address:<addr>"``); empty when clear."""

    hits: list[str]


@dataclass(frozen=True)
class RejectInput:
    """Reject a record with a reason; ``officer_id`` None: rejected automatically (sanctions hit)."""

    record_id: str
    reason: str
    officer_id: str | None = None


@dataclass(frozen=True)
class RegisterOnChainInput:
    """Register the record's tier on ``kyc_registry`` until ``expires_at`` (UTC)."""

    record_id: str
    expires_at: datetime


@dataclass(frozen=True)
class ApproveInput:
    """Mark the record approved at ``approved_at`` until ``expires_at`` (UTC), by ``officer_id`` (None: automatic)."""

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
class NotifyResult:
    """Deposits told about the change: ``signalled`` waiting ones, ``retried`` older parked ones."""

    signalled: int
    retried: int


@dataclass(frozen=True)
class DataSupplied:
    """Payload of ``data_supplied``: which fields the user added (names only, never values)."""

    fields: list[str]


# ---- activity stubs: typed call targets for ``workflow.execute_activity`` ------------------------
# The implementations live in ``activities/``; tests/workflow/test_activity_contracts.py fails when one
# drifts from its stub.


@activity.defn(name=SCREEN)
async def screen_kyc_record(inp: KycRecordRef) -> ScreenResult:
    """Sanctions screening of a record (``KycActivities.screen``)."""
    raise NotImplementedError


@activity.defn(name=REJECT)
async def reject_kyc_record(inp: RejectInput) -> None:
    """Reject the record (``KycActivities.reject``)."""
    raise NotImplementedError


@activity.defn(name=REGISTER_ON_CHAIN)
async def register_kyc_on_chain(inp: RegisterOnChainInput) -> str:
    """Register the tier on ``kyc_registry``; returns the tx hash (``register_on_chain``)."""
    raise NotImplementedError


@activity.defn(name=APPROVE)
async def approve_kyc_record(inp: ApproveInput) -> None:
    """Approve the record (``KycActivities.approve``)."""
    raise NotImplementedError


@activity.defn(name=EXPIRE)
async def expire_kyc_record(inp: KycRecordRef) -> ExpireResult:
    """Expire the record (``KycActivities.expire``)."""
    raise NotImplementedError


@activity.defn(name=REVOKE_ON_CHAIN)
async def revoke_kyc_on_chain(inp: KycRecordRef) -> str:
    """Revoke the tier on ``kyc_registry``; returns the tx hash (``revoke_on_chain``)."""
    raise NotImplementedError


@activity.defn(name=NOTIFY_WAITING)
async def notify_kyc_waiting_deposits(inp: KycChanged) -> NotifyResult:
    """Wake the user's waiting deposits (``KycNotifications.notify_waiting_deposits``)."""
    raise NotImplementedError
