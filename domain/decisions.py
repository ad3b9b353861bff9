"""A person's decision on a request waiting for one (a KYC record, a withdrawal above the
approval threshold): the kind, and the error for a decision that may not be recorded."""

from __future__ import annotations

from enum import StrEnum

from domain.errors import DomainError


class DecisionKind(StrEnum):
    """Approve or reject (the value travels in Temporal payloads and API bodies)."""

    APPROVE = "approve"
    REJECT = "reject"


class InvalidDecision(DomainError):
    """A decision that may not be recorded (no reason given, or the decider is the requester)."""

    code = "invalid_decision"
