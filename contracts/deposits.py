"""Contract of the deposit workflow and its activities: names, inputs, outputs, typed stubs.

Workflow modules import this file inside ``imports_passed_through()``, so it must stay free
of stellar_sdk, psycopg and HTTP clients, even transitively. One input dataclass per activity,
so fields can be added without breaking recorded histories. Amounts are satoshis, depths are
blocks, times are seconds.

``project`` on an input is the lean path (patch ``lean-deposit-path``): the activity writes the
operation row's stage (and its audit row) itself, in the transaction of its business effect. It
is False in runs started before that path, which write stages with ``update_deposit_operation``.
"""

from __future__ import annotations

from dataclasses import dataclass

from temporalio import activity

from contracts.operations import GET_STATE_QUERY as GET_STATE_QUERY
from contracts.operations import OperationResult, OperationRow, StepBudget
from contracts.operations import OperationUpdate as OperationUpdate
from contracts.operations import PolicyResult as PolicyResult
from domain.deposits import AttentionReason, DepositFailure

PLAN = "plan_deposit"
OBSERVE = "observe_deposit"
UPDATE = "update_deposit_operation"
CHECK_POLICY = "check_deposit_policy"
CHECK_SOLVENCY = "check_deposit_solvency"
MINT = "mint_deposit"
CREDIT = "credit_deposit"
FLAG_VANISHED = "flag_vanished_deposit"
SCAN = "scan_deposit_addresses"
WORKFLOW = "DepositWorkflow"
SCAN_WORKFLOW = "DepositScanWorkflow"
#: Signal a waiting deposit gets when its user's KYC changed (sent by the KYC workflow).
KYC_CHANGED_SIGNAL = "kyc_changed"
#: ``operations.error`` of a deposit that waited on its user's KYC past ``deposits.kyc_wait_days``.
KYC_WAIT_EXPIRED = "kyc_wait_expired"

#: ``ApplicationError.type`` values that end a deposit as ``failed`` (never retried).
FAILURE_TYPES: tuple[str, ...] = tuple(f.value for f in DepositFailure)
#: Business refusals that need a person, not a retry: the operation waits in ``needs_attention``.
ATTENTION_TYPES: tuple[str, ...] = tuple(a.value for a in AttentionReason)
NON_RETRYABLE_TYPES: list[str] = [*FAILURE_TYPES, *ATTENTION_TYPES, "ContractError", "OperationMissing"]


@dataclass(frozen=True)
class DepositInput:
    """Start argument of ``DepositWorkflow`` (id ``deposit-<txid>:<vout>``)."""

    operation_id: str
    user_id: str
    txid: str
    vout: int
    amount_sats: int


def deposit_workflow_input(op: OperationRow) -> DepositInput:
    """The start argument of deposit operation ``op``'s workflow (the API's request and the
    scan's heal of a start that failed build it alike).

    Raises:
        ValueError: ``op.outpoint`` is missing or not ``txid:vout`` with an integer vout.
    """
    txid, vout = (op.outpoint or "").rsplit(":", 1)
    return DepositInput(str(op.id), str(op.user_id), txid, int(vout), op.amount or 0)


@dataclass(frozen=True)
class PlanInput:
    """``project``: also move the row to ``verifying`` / ``processing`` with the required depth."""

    operation_id: str
    amount_sats: int
    project: bool = False


@dataclass(frozen=True)
class DepositPlan(StepBudget):
    """Configuration captured once per deposit, so the workflow stays deterministic."""

    required_confirmations: int
    reorg_window_blocks: int
    watch_blocks_after_mint: int


@dataclass(frozen=True)
class ObserveInput(DepositInput):
    """The deposit as it started. ``project``: write stage ``awaiting_confirmations`` with the
    depth seen (while waiting for depth). ``complete_at``: after the mint, move the row from
    ``watching`` to ``completed`` once the output is this many blocks deep."""

    project: bool = False
    complete_at: int | None = None


@dataclass(frozen=True)
class DepositObservation:
    """What the canonical chain says about the outpoint now.

    ``outcome``: ``confirmed``, ``unconfirmed`` (mempool), ``not_found``, ``no_output_to_address``
    or ``amount_mismatch``. ``amount_sats`` is what the output really pays (0 when unknown).
    """

    outcome: str
    amount_sats: int
    confirmations: int
    block_height: int | None
    block_hash: str | None
    tip_height: int




@dataclass(frozen=True)
class PolicyInput:
    """``project``: write the outcome to the row (``kyc_check``, a wait stage with what the user
    must do, or the ``system_paused`` error) in the transaction of the check."""

    operation_id: str
    project: bool = False




@dataclass(frozen=True)
class KycChanged:
    """Payload of the ``kyc_changed`` signal: the user's KYC moved (approved, expired…)."""

    user_id: str
    record_id: str | None = None


@dataclass(frozen=True)
class DepositOutputRef:
    """A deposit's operation and the output it claims: ``txid:vout``, paying ``amount_sats``."""

    operation_id: str
    txid: str
    vout: int
    amount_sats: int


@dataclass(frozen=True)
class SolvencyInput(DepositOutputRef):
    """``project``: write stage ``solvency_check`` in the guard's transaction."""

    project: bool = False


@dataclass(frozen=True)
class MintInput(DepositOutputRef):
    """``project``: write stage ``minting`` before the envelope is built and sent."""

    confirmations: int
    block_height: int
    project: bool = False


@dataclass(frozen=True)
class MintResult:
    """``already_minted``: the router answered DuplicateOperation (42): minted earlier."""

    stellar_tx_hash: str | None
    already_minted: bool = False


@dataclass(frozen=True)
class CreditInput:
    """Credit a minted deposit: the mint's Stellar hash and the stage the row moves to (``watching`` or ``completed``)."""

    operation_id: str
    stellar_tx_hash: str | None
    stage: str


@dataclass(frozen=True)
class FlagInput:
    """A minted deposit's output left the canonical chain."""

    operation_id: str
    detail: str


@dataclass(frozen=True)
class ScanInput:
    """Argument of one detection scan; ``grace_seconds``: how old an operation still at stage
    ``received`` must be before the scan (re)starts its workflow (its API request may be mid-way)."""

    grace_seconds: float = 30.0


@dataclass(frozen=True)
class ScanResult:
    """What one scan did: watched addresses, deposits it recorded, and workflows it made sure run.

    ``started`` counts every workflow start (deposits found, heals of failed starts) that Temporal
    answered with a run: a new one, or one already going that the start joined. The starters
    return the run's handle either way, so the count cannot tell the two apart.
    """

    addresses: int
    recorded: int
    started: int
    blocks: int = 0
    """Blocks applied to the custody UTXO set in this run."""


@dataclass(frozen=True)
class DepositState:
    """What ``get_state`` answers."""

    stage: str
    status: str
    confirmations: int
    required_confirmations: int
    stellar_tx_hash: str | None
    error: str | None
    waiting_for: str | None = None


@dataclass(frozen=True)
class DepositResult(OperationResult):
    """What ``DepositWorkflow`` returns: the final status, the mint's hash and the error code of a failed claim."""

    error: str | None = None


# ---- activity stubs: typed call targets for ``workflow.execute_activity`` ------------------------
# The implementations live in ``activities/`` (one class each); tests/workflow/test_activity_contracts.py
# fails when an implementation's name or signature drifts from its stub.


@activity.defn(name=PLAN)
async def plan_deposit(inp: PlanInput) -> DepositPlan:
    """Capture the deposit's configuration (``DepositActivities.plan_deposit``)."""
    raise NotImplementedError


@activity.defn(name=OBSERVE)
async def observe_deposit(inp: ObserveInput) -> DepositObservation:
    """What the canonical chain says about the outpoint (``DepositActivities.observe_deposit``)."""
    raise NotImplementedError


@activity.defn(name=UPDATE)
async def update_deposit_operation(inp: OperationUpdate) -> None:
    """Apply a projection change with its audit row (``DepositActivities.update_operation``)."""
    raise NotImplementedError


@activity.defn(name=CHECK_POLICY)
async def check_deposit_policy(inp: PolicyInput) -> PolicyResult:
    """Pause switch, KYC tier, limits, on-chain approval (``DepositPolicy.check_policy``)."""
    raise NotImplementedError


@activity.defn(name=CHECK_SOLVENCY)
async def check_deposit_solvency(inp: SolvencyInput) -> None:
    """The books' solvency guard places the credit (``DepositGuards.check_solvency``)."""
    raise NotImplementedError


@activity.defn(name=MINT)
async def mint_deposit(inp: MintInput) -> MintResult:
    """Mint exactly once through the stored-envelope submitter (``DepositActivities.mint_deposit``)."""
    raise NotImplementedError


@activity.defn(name=CREDIT)
async def credit_deposit(inp: CreditInput) -> None:
    """Credit balance, operation and audit in one transaction (``DepositActivities.credit_deposit``)."""
    raise NotImplementedError


@activity.defn(name=FLAG_VANISHED)
async def flag_vanished_deposit(inp: FlagInput) -> None:
    """Hold the credit of a minted deposit whose output left the chain (``DepositGuards.flag_vanished``)."""
    raise NotImplementedError


@activity.defn(name=SCAN)
async def scan_deposit_addresses(inp: ScanInput) -> ScanResult:
    """One detection scan (``DepositDetection.scan_deposit_addresses``)."""
    raise NotImplementedError
