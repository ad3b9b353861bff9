"""Inputs and outputs of the withdrawal workflow and its activities (plain dataclasses, no I/O).

``workflows/withdrawal.py`` imports this module inside ``imports_passed_through()``, so it must
stay free of stellar_sdk, psycopg and HTTP clients, even transitively. One input dataclass per
activity so fields can be added without breaking recorded histories. Amounts are satoshis
(= iSTSi base units), depths blocks, times seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

PLAN = "plan_withdrawal"
UPDATE = "update_withdrawal_operation"
CHECK_POLICY = "check_withdrawal_policy"
HOLD = "hold_withdrawal_balance"
RELEASE = "release_withdrawal"
BURN = "burn_withdrawal_tokens"
PREPARE_PAYOUT = "prepare_withdrawal_payout"
ACCEPT_SIGNED_PSBT = "accept_signed_payout_psbt"
BROADCAST = "broadcast_withdrawal_payout"
CHECK_PAYOUT = "check_withdrawal_payout"
COMPLETE_ON_CHAIN = "complete_withdrawal_on_chain"
CANCEL_ON_CHAIN = "cancel_withdrawal_on_chain"
RECREDIT = "recredit_cancelled_withdrawal"
SETTLE = "settle_withdrawal"

# ``ApplicationError.type`` values the workflow acts on.
#: Refusals before the burn: the withdrawal fails and its hold is released.
REFUSALS = ("insufficient_kyc_tier", "limit_exceeded", "compliance_check_failed", "insufficient_balance", "burn_rejected")
#: The payout cannot be built or signed: after the burn this cancels the withdrawal on chain.
PAYOUT_UNBUILDABLE = "payout_unbuildable"
#: ``PayoutState.status`` when every fitting output is spent by unconfirmed payouts: wait, then retry.
FUNDS_PENDING = "funds_pending"
#: A signed PSBT that does not match the payout (the update fails, the workflow keeps waiting).
INVALID_SIGNED_PSBT = "invalid_signed_psbt"
#: Never retried automatically: a person must look (the step parks at ``needs_attention``).
ATTENTION = ("payout_rejected", "insufficient_reserves", "withdrawal_state_conflict", "signer_unavailable")
NON_RETRYABLE_TYPES: list[str] = [
    *REFUSALS, PAYOUT_UNBUILDABLE, INVALID_SIGNED_PSBT, *ATTENTION, "ContractError",
]


@dataclass(frozen=True)
class WithdrawalInput:
    """Start argument of ``WithdrawalWorkflow`` (id ``withdrawal-<operation id>``)."""

    operation_id: str
    user_id: str
    amount_sats: int


@dataclass(frozen=True)
class OperationRef:
    operation_id: str


@dataclass(frozen=True)
class WithdrawalPlan:
    """Configuration captured once per withdrawal, so the workflow stays deterministic."""

    needs_approval: bool
    approval_timeout_seconds: int
    payout_confirmations: int
    poll_interval_seconds: float
    activity_timeout_seconds: float
    activity_max_attempts: int


@dataclass(frozen=True)
class OperationUpdate:
    """A projection change of one operation; ``None`` fields are left as they are."""

    operation_id: str
    stage: str | None = None
    status: str | None = None
    error: str | None = None
    clear_error: bool = False
    confirmations: int | None = None
    required_confirmations: int | None = None
    audit_action: str | None = None
    actor_id: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class PolicyResult:
    """``paused``: withdrawals or the router are paused (the workflow waits and asks again)."""

    paused: bool
    reason: str | None = None


@dataclass(frozen=True)
class FinishInput:
    """End a withdrawal that did not pay out: final ``status``/``stage`` with ``error`` and who
    decided (``actor_id``, ``reason``)."""

    operation_id: str
    status: str
    stage: str
    error: str | None
    actor_id: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class BurnResult:
    stellar_tx_hash: str


@dataclass(frozen=True)
class PayoutState:
    """The stored payout: ``status`` of ``payouts``; ``psbt`` is what an external signer signs."""

    status: str
    txid: str
    amount_sats: int
    fee_sats: int
    psbt: str


@dataclass(frozen=True)
class SignedPsbtInput:
    operation_id: str
    psbt: str
    operator_id: str


@dataclass(frozen=True)
class PayoutDepth:
    """Depth of the payout on the canonical chain (0 in the mempool)."""

    confirmations: int
    block_height: int | None


@dataclass(frozen=True)
class CompleteInput:
    operation_id: str
    txid: str


@dataclass(frozen=True)
class SettleInput:
    operation_id: str
    txid: str
    confirmations: int
    block_height: int | None


@dataclass(frozen=True)
class WithdrawalState:
    """What ``get_state`` answers."""

    stage: str
    status: str
    stellar_tx_hash: str | None
    btc_txid: str | None
    confirmations: int
    error: str | None


@dataclass(frozen=True)
class WithdrawalResult:
    operation_id: str
    status: str
    stellar_tx_hash: str | None
    btc_txid: str | None
    error: str | None = None
