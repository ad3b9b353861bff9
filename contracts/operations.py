"""Shapes both money workflows (deposit and withdrawal) share with their activities and the API.

One ``OperationUpdate`` (the projection change of an operations row), one ``PolicyResult`` (the
answer of a policy check), one ``OperatorAction`` (payload of the operator signals), the bases of
what both return (``OperationResult``) and of their plans (``StepBudget``), and what the builders
of their start arguments read of a row (``OperationRow``). Field names are part of recorded
histories: add fields with defaults, never rename one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

#: Signal names of :class:`workflows.operator_control.OperatorControl` (Temporal UI, operator API).
RETRY_SIGNAL = "retry"
CANCEL_SIGNAL = "cancel"
#: Query every operation workflow answers with its state (deposit, withdrawal, payout, KYC).
GET_STATE_QUERY = "get_state"


class OperationRow(Protocol):
    """What the start-argument builders read of an ``operations`` row (``db.models.Operation``
    has it): its ``id`` and ``user_id`` (sent as strings), ``amount`` in satoshis and, for a
    deposit, its ``outpoint`` (``txid:vout``)."""

    @property
    def id(self) -> object: ...

    @property
    def user_id(self) -> object: ...

    @property
    def amount(self) -> int | None: ...

    @property
    def outpoint(self) -> str | None: ...


@dataclass(frozen=True)
class OperatorAction:
    """Payload of the ``retry`` and ``cancel`` signals (``reason`` is audited by the API)."""

    reason: str = ""
    operator_id: str | None = None


@dataclass(frozen=True)
class OperationUpdate:
    """A projection change of one operation; ``None`` fields are left as they are.

    ``audit_action`` names the audit row written with it (none when None); ``actor_id`` and
    ``reason`` come from an operator's signal. ``release_outpoint`` frees the outpoint of a
    deposit claim the chain disproved (deposits only). Depths are blocks.
    """

    operation_id: str
    stage: str | None = None
    status: str | None = None
    confirmations: int | None = None
    required_confirmations: int | None = None
    error: str | None = None
    clear_error: bool = False
    release_outpoint: bool = False
    audit_action: str | None = None
    actor_id: str | None = None
    reason: str | None = None
    waiting_for: str | None = None
    """What the user must do (deposit stages ``awaiting_kyc`` / ``awaiting_limits``);
    ``wait_reason`` is its stable code (``operations.metadata.wait_reason``); ``clear_waiting``
    clears both."""
    wait_reason: str | None = None
    clear_waiting: bool = False


@dataclass(frozen=True)
class PolicyResult:
    """``paused`` is True while minting (deposits) or withdrawals / the router are paused: the
    workflow waits and asks again. ``reason`` says why a check refused or paused.

    Deposits only: ``wait_stage`` set means the user can fix the refusal (``awaiting_kyc``: KYC
    missing, pending, expired or too low; ``awaiting_limits``: the rolling window is full). The
    workflow shows ``waiting_for`` and asks again on a ``kyc_changed`` signal or after
    ``recheck_seconds``; a KYC wait longer than ``max_wait_seconds`` goes to an operator.
    """

    paused: bool
    reason: str | None = None
    wait_stage: str | None = None
    wait_reason: str | None = None
    waiting_for: str | None = None
    recheck_seconds: float | None = None
    max_wait_seconds: float | None = None


@dataclass(frozen=True)
class OperationResult:
    """What a money workflow returns: its operation, the final status and the hash of its Stellar
    transaction (the mint or the burn; None when none was sent)."""

    operation_id: str
    status: str
    stellar_tx_hash: str | None


@dataclass(frozen=True)
class StepBudget:
    """What a money workflow's plan fixes for its steps, from configuration: how often it polls
    (seconds), one step's start-to-close timeout (seconds) and its attempts before it parks."""

    poll_interval_seconds: float
    activity_timeout_seconds: float
    activity_max_attempts: int
