"""Contract of the withdrawal workflow and its activities: names, inputs, outputs, typed stubs.

``workflows/withdrawal.py`` imports this module inside ``imports_passed_through()``, so it must
stay free of stellar_sdk, psycopg and HTTP clients, even transitively. One input dataclass per
activity so fields can be added without breaking recorded histories. Amounts are satoshis
(= iSTSi base units), depths blocks, times seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

from temporalio import activity

from contracts.operations import GET_STATE_QUERY as GET_STATE_QUERY
from contracts.operations import OperationResult, OperationRow, StepBudget
from contracts.operations import OperationUpdate as OperationUpdate
from contracts.operations import PolicyResult as PolicyResult

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
WORKFLOW = "WithdrawalWorkflow"
#: Update an operator approves or rejects with (and the same as a signal, for the Temporal UI).
DECIDE_UPDATE = "decide"
DECIDE_SIGNAL = "decide_signal"
#: Update the requester cancels with (before the burn, or while the batch is not signed).
CANCEL_BY_USER_UPDATE = "cancel_by_user"
#: Update an external signer sends the signed PSBT with (pre-batch path).
SUBMIT_SIGNED_PSBT_UPDATE = "submit_signed_psbt"

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
    """Start argument of ``WithdrawalWorkflow`` (id ``withdrawal-<operation id>``).

    ``in_batch`` and the fields after it are set only by the workflow itself when it continues as
    new while following its payout batch (a long wait for signers or depth): the new run goes
    straight back to the batch, burned already (``stellar_tx_hash``), in the payout ``payout_id``
    if one took it (None: still queued), with that payout's ``btc_txid`` if broadcast, and
    whether the user could still cancel it (``batch_cancellable``: its payout unsigned). (Flat
    fields: the workflow sandbox decodes its input and resolves no nested forward references.)
    """

    operation_id: str
    user_id: str
    amount_sats: int
    in_batch: bool = False
    stellar_tx_hash: str | None = None
    payout_id: str | None = None
    btc_txid: str | None = None
    batch_cancellable: bool = False


def withdrawal_workflow_input(op: OperationRow) -> WithdrawalInput:
    """The start argument of withdrawal operation ``op``'s workflow (the API's request and the
    scan's heal of a start that failed build it alike)."""
    return WithdrawalInput(str(op.id), str(op.user_id), op.amount or 0)


@dataclass(frozen=True)
class OperationRef:
    """A withdrawal by its operation id (``operations.id`` as a string)."""

    operation_id: str


@dataclass(frozen=True)
class WithdrawalPlan(StepBudget):
    """Configuration captured once per withdrawal, so the workflow stays deterministic."""

    needs_approval: bool
    approval_timeout_seconds: int
    payout_confirmations: int






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
    """The burn's Stellar transaction hash."""

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
    """An external signer's signed PSBT (base64) for the withdrawal's payout, sent by ``operator_id``."""

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
    """Complete the withdrawal on the router with the payout ``txid`` that confirmed."""

    operation_id: str
    txid: str


@dataclass(frozen=True)
class SettleInput:
    """Settle the books of a withdrawal paid by ``txid`` at that depth and height."""

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
class WithdrawalResult(OperationResult):
    """What ``WithdrawalWorkflow`` returns: the final status, both chains' hashes and the error code."""

    btc_txid: str | None
    error: str | None = None


# ---- activity stubs: typed call targets for ``workflow.execute_activity`` ------------------------
# The implementations live in ``activities/``; tests/workflow/test_activity_contracts.py fails when one
# drifts from its stub.


@activity.defn(name=PLAN)
async def plan_withdrawal(inp: WithdrawalInput) -> WithdrawalPlan:
    """Capture the withdrawal's configuration (``WithdrawalActivities.plan``)."""
    raise NotImplementedError


@activity.defn(name=UPDATE)
async def update_withdrawal_operation(inp: OperationUpdate) -> None:
    """Apply a projection change with its audit row (``WithdrawalActivities.update_operation``)."""
    raise NotImplementedError


@activity.defn(name=CHECK_POLICY)
async def check_withdrawal_policy(inp: OperationRef) -> PolicyResult:
    """Pause switch, tier, limits (``WithdrawalActivities.check_policy``); refusals raise one of :data:`REFUSALS`."""
    raise NotImplementedError


@activity.defn(name=HOLD)
async def hold_withdrawal_balance(inp: OperationRef) -> None:
    """Reserve the amount in ``reserved_balance`` (``WithdrawalActivities.hold``)."""
    raise NotImplementedError


@activity.defn(name=RELEASE)
async def release_withdrawal(inp: FinishInput) -> None:
    """End before the burn and release the hold (``WithdrawalActivities.release``)."""
    raise NotImplementedError


@activity.defn(name=BURN)
async def burn_withdrawal_tokens(inp: OperationRef) -> BurnResult:
    """Burn through the router, exactly once (``WithdrawalActivities.burn``)."""
    raise NotImplementedError


@activity.defn(name=PREPARE_PAYOUT)
async def prepare_withdrawal_payout(inp: OperationRef) -> PayoutState:
    """Build the pre-batch payout (``PayoutActivities.prepare_payout``)."""
    raise NotImplementedError


@activity.defn(name=ACCEPT_SIGNED_PSBT)
async def accept_signed_payout_psbt(inp: SignedPsbtInput) -> PayoutState:
    """Check and store an external signer's PSBT (``PayoutActivities.accept_signed_psbt``)."""
    raise NotImplementedError


@activity.defn(name=BROADCAST)
async def broadcast_withdrawal_payout(inp: OperationRef) -> str:
    """Broadcast the stored payout; returns its txid (``PayoutActivities.broadcast_payout``)."""
    raise NotImplementedError


@activity.defn(name=CHECK_PAYOUT)
async def check_withdrawal_payout(inp: OperationRef) -> PayoutDepth:
    """Depth of the payout (``PayoutActivities.check_payout``)."""
    raise NotImplementedError


@activity.defn(name=COMPLETE_ON_CHAIN)
async def complete_withdrawal_on_chain(inp: CompleteInput) -> str:
    """Router ``complete_withdrawal``; returns the tx hash (``WithdrawalActivities.complete_on_chain``)."""
    raise NotImplementedError


@activity.defn(name=CANCEL_ON_CHAIN)
async def cancel_withdrawal_on_chain(inp: OperationRef) -> str:
    """Router cancel (re-mint); returns the tx hash (``WithdrawalActivities.cancel_on_chain``)."""
    raise NotImplementedError


@activity.defn(name=RECREDIT)
async def recredit_cancelled_withdrawal(inp: FinishInput) -> None:
    """Credit the tokens of a compensated withdrawal back (``WithdrawalActivities.recredit``)."""
    raise NotImplementedError


@activity.defn(name=SETTLE)
async def settle_withdrawal(inp: SettleInput) -> None:
    """Books, operation and audit of a paid withdrawal (``WithdrawalActivities.settle``)."""
    raise NotImplementedError
