"""Inputs and outputs of the payout activities and ``PayoutWorkflow`` (plain dataclasses, no I/O).

Workflows import this module inside ``imports_passed_through()``: it stays free of SDKs and
clients. Amounts are satoshis, rates sat/vB, depths blocks, times seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

from temporalio import activity

from domain.withdrawal_stages import PayoutItemStatus

# Activities the withdrawal workflow runs (its side of the batch).
JOIN_BATCH = "join_payout_batch"
LEAVE_BATCH = "leave_payout_batch"
# Activities of PayoutWorkflow (one payout: a batch transaction and its versions).
PAYOUT_PLAN = "plan_payout_flow"
ACCEPT_SIGNATURES = "accept_payout_signatures"
BROADCAST_VERSION = "broadcast_payout_version"
FOLLOW_PAYOUT = "follow_payout"
BUMP_PAYOUT = "bump_payout"
SETTLE_PAYOUT = "settle_payout"
WORKFLOW = "PayoutWorkflow"
#: Signal an operator asks for a fee bump with (payload :class:`BumpRequest`).
BUMP_SIGNAL = "bump"
#: Update a signer contributes its partial signatures with (payload :class:`SignaturesInput`).
SUBMIT_SIGNATURES_UPDATE = "submit_signatures"

#: ``ItemState.status`` values (the item's, then its payout's): what the withdrawal waits for.
QUEUED = PayoutItemStatus.QUEUED.value
AWAITING_SIGNATURE = PayoutItemStatus.AWAITING_SIGNATURE.value
SIGNED = PayoutItemStatus.SIGNED.value
BROADCAST = PayoutItemStatus.BROADCAST.value
CONFIRMED = PayoutItemStatus.CONFIRMED.value
CANCELLED = PayoutItemStatus.CANCELLED.value
FAILED = PayoutItemStatus.FAILED.value

#: ``ApplicationError.type`` of a signature contribution the checks refused (the update fails).
INVALID_SIGNATURES = "invalid_signed_psbt"
#: The payout is not waiting for signatures of that version.
NOT_AWAITING_SIGNATURES = "not_awaiting_signature"
#: The failure type of a ``submit_signatures`` refused only for now (a batch just cut, another
#: signer's PSBT being merged): the API waits a little and asks again.
NOT_READY = "payout_not_ready"


@dataclass(frozen=True)
class JoinInput:
    """A burned withdrawal joins (or checks on) its batch. ``known_payout_id``: the payout whose
    workflow this withdrawal already made sure is running (so it is not asked again)."""

    operation_id: str
    known_payout_id: str | None = None


@dataclass(frozen=True)
class ItemState:
    """Where one withdrawal's payout stands.

    ``status``: ``queued`` (waiting for its batch; ``due_in_seconds`` until it closes),
    ``awaiting_signature``, ``signed``, ``broadcast``, ``confirmed`` (the payout settled at its
    depth), ``cancelled``, ``failed`` (``error`` says why: no payout can include it).
    """

    status: str
    payout_id: str | None = None
    txid: str | None = None
    vout: int | None = None
    fee_share_sats: int | None = None
    recipient_sats: int | None = None
    confirmations: int = 0
    block_height: int | None = None
    due_in_seconds: float | None = None
    error: str | None = None


@dataclass(frozen=True)
class LeaveInput:
    """A withdrawal gives up its place before its batch is signed (cancelled)."""

    operation_id: str
    reason: str = ""
    actor_id: str | None = None


@dataclass(frozen=True)
class LeaveResult:
    """``left``: the withdrawal is out of every payout; False once its payout was signed."""

    left: bool
    status: str


@dataclass(frozen=True)
class PayoutRef:
    """A payout by id (``payouts.id`` as a string)."""

    payout_id: str


@dataclass(frozen=True)
class PayoutInput(PayoutRef):
    """Start argument of ``PayoutWorkflow`` (id ``payout-<payout id>``): the payout it follows."""


@dataclass(frozen=True)
class PayoutFlowPlan:
    """Configuration captured once per payout workflow (deterministic)."""

    payout_confirmations: int
    poll_interval_seconds: float
    activity_timeout_seconds: float
    activity_max_attempts: int
    bump_after_blocks: int


@dataclass(frozen=True)
class SignaturesInput:
    """A signer's partially signed PSBT of version ``version`` of a payout (admin API)."""

    payout_id: str
    version: int
    psbt: str
    operator_id: str


@dataclass(frozen=True)
class SignaturesResult:
    """After a contribution: the keys signed so far, how many are needed, the txid once signed."""

    version: int
    signed_keys: int
    required: int
    status: str
    txid: str


@dataclass(frozen=True)
class BroadcastInput:
    """Broadcast version ``version`` of a payout (signed and stored before)."""

    payout_id: str
    version: int


@dataclass(frozen=True)
class PayoutProgress:
    """The payout as the chain shows it: the current version and its state, the version that
    confirmed (``winner``) and its depth, whether a bump is due, the tip height."""

    status: str
    current_version: int
    current_status: str
    winner: int | None
    confirmations: int
    block_height: int | None
    tip_height: int
    bump_due: bool
    txid: str | None = None


@dataclass(frozen=True)
class BumpRequest:
    """Payload of the ``bump`` signal: an operator asks for a bump now (``fee_rate_sat_vb``:
    a rate to use instead of the estimate, within the cap; ``method``: ``rbf`` or ``cpfp``)."""

    reason: str = ""
    operator_id: str | None = None
    fee_rate_sat_vb: int | None = None
    method: str | None = None


@dataclass(frozen=True)
class BumpInput:
    """Bump the payout past version ``from_version``; ``request``: an operator's ask (None: due by depth)."""

    payout_id: str
    from_version: int
    request: BumpRequest | None = None


@dataclass(frozen=True)
class BumpResult:
    """``version``: the new version (None when no bump was made, ``reason`` says why)."""

    version: int | None
    status: str | None = None
    method: str | None = None
    fee_rate_sat_vb: int | None = None
    extra_fee_sats: int = 0
    reason: str | None = None


@dataclass(frozen=True)
class SettleInput:
    """Settle the payout on version ``winner``, confirmed at ``block_height`` with ``confirmations``."""

    payout_id: str
    winner: int
    block_height: int
    confirmations: int


@dataclass(frozen=True)
class PayoutResult:
    """What ``PayoutWorkflow`` returns: the final status, the txid and version that confirmed (None if abandoned)."""

    payout_id: str
    status: str
    txid: str | None
    version: int | None


# ---- activity stubs: typed call targets for ``workflow.execute_activity`` ------------------------
# The implementations live in ``activities/``; tests/workflow/test_activity_contracts.py fails when one
# drifts from its stub.


@activity.defn(name=JOIN_BATCH)
async def join_payout_batch(inp: JoinInput) -> ItemState:
    """Queue a burned withdrawal for a batch, or check on it (``PayoutBatchActivities.join_batch``)."""
    raise NotImplementedError


@activity.defn(name=LEAVE_BATCH)
async def leave_payout_batch(inp: LeaveInput) -> LeaveResult:
    """Leave the batch before it is signed (``PayoutBatchActivities.leave_batch``)."""
    raise NotImplementedError


@activity.defn(name=PAYOUT_PLAN)
async def plan_payout_flow(inp: PayoutRef) -> PayoutFlowPlan:
    """Capture the payout workflow's configuration (``PayoutChainActivities.plan``)."""
    raise NotImplementedError


@activity.defn(name=ACCEPT_SIGNATURES)
async def accept_payout_signatures(inp: SignaturesInput) -> SignaturesResult:
    """Check and merge a signer's PSBT (``accept_signatures``)."""
    raise NotImplementedError


@activity.defn(name=BROADCAST_VERSION)
async def broadcast_payout_version(inp: BroadcastInput) -> str:
    """Broadcast one signed version; returns its txid (``broadcast_version``)."""
    raise NotImplementedError


@activity.defn(name=FOLLOW_PAYOUT)
async def follow_payout(inp: PayoutRef) -> PayoutProgress:
    """Every version's state on the chain (``follow``)."""
    raise NotImplementedError


@activity.defn(name=BUMP_PAYOUT)
async def bump_payout(inp: BumpInput) -> BumpResult:
    """Sign a fee-bumped version (RBF or CPFP) (``bump``)."""
    raise NotImplementedError


@activity.defn(name=SETTLE_PAYOUT)
async def settle_payout(inp: SettleInput) -> None:
    """Settle the version that confirmed (``settle``)."""
    raise NotImplementedError
