"""Withdrawal rules (pure): the fee rule, the approval rule, user cancel, ids and keys.

**Fee rule — the user pays the Bitcoin network fee.** A withdrawal of ``amount_sats`` burns
exactly ``amount_sats`` iSTSi and takes exactly ``amount_sats`` out of custody: the recipient
receives ``amount_sats - fee_sats`` and the miners ``fee_sats``, where ``fee_sats`` is the fee
rate (sat/vB, clamped to ``bitcoin.fee_rate_floor_sat_vb``..``fee_rate_cap_sat_vb``) times the
upper-bound virtual size of the payout. Any surplus of the chosen inputs returns to custody as a
change output; a surplus below the dust limit is never made (another input is added instead), so
the reserves move by the burned amount to the satoshi. ``minimum_sats`` must therefore cover the
worst-case fee plus the 546-sat dust limit (:func:`worst_case_fee_sats`). Every payout is planned
by :func:`domain.payout_batches.plan_batch`; a withdrawal paid on its own is a batch of one.

Exception tree (all ``DomainError`` with a stable ``code``)::

    WithdrawalError
     ├── BelowMinimum           amount_below_minimum (domain.amounts, shared with deposits)
     ├── WrongToken             invalid_token_address
     ├── InsufficientBalance    insufficient_balance
     └── InvalidDecision        invalid_decision (domain.decisions, shared with KYC)

A router allowance below the amount is a ``Conflict`` with code ``allowance_required``
(``services.withdrawals``: its body names the spender and both amounts).

Source: BIP 141 (virtual size), Bitcoin Core dust policy, SEP-41 (allowance).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import StrEnum

from domain.amounts import WITHDRAWAL_BELOW_MINIMUM, BelowMinimum
from domain.bitcoin_address import ScriptType
from domain.bitcoin_payout import DUST_LIMIT_SATS, estimate_vsize
from domain.custody_script import P2WPKH_CUSTODY, CustodyScript
from domain.decisions import DecisionKind, InvalidDecision
from domain.errors import DomainError
from domain.operations import OperationStage

#: Inputs assumed by the worst-case fee that ``minimum_sats`` must cover.
WORST_CASE_INPUTS = 3
#: Largest output script we pay (P2WSH / P2TR, 34 bytes): the worst case for the fee.
_WORST_RECIPIENT = ScriptType.P2TR
#: Stages in which the user may still cancel: nothing has touched the chain yet.
CANCELLABLE_STAGES = frozenset(
    {OperationStage.RECEIVED, OperationStage.KYC_CHECK, OperationStage.RESERVING, OperationStage.AWAITING_APPROVAL}
)


class PayoutPriority(StrEnum):
    """How a withdrawal asks to be paid (``priority`` of ``POST /api/integration/token-withdrawal``)."""

    BATCH = "batch"
    """With the next payout batch, sharing its fee (the default)."""
    ASAP = "asap"
    """At once in a payout of its own, bearing its whole fee (``withdrawals.asap_allowed``)."""


class WithdrawalError(DomainError):
    code = "withdrawal_error"


class WrongToken(WithdrawalError):
    code = "invalid_token_address"


class InsufficientBalance(WithdrawalError):
    """Available balance (``balance - reserved_balance``) is below the amount."""

    code = "insufficient_balance"


@dataclass(frozen=True)
class ApprovalDecision:
    """An operator's decision on a withdrawal awaiting approval (payload of update and signal)."""

    decision: DecisionKind
    approver_id: str
    reason: str


@dataclass(frozen=True)
class UserCancel:
    """A user's request to cancel their own withdrawal before the burn."""

    user_id: str
    reason: str = ""


def worst_case_fee_sats(fee_rate_cap_sat_vb: int, *, custody: CustodyScript = P2WPKH_CUSTODY) -> int:
    """Fee (sats) of a payout with :data:`WORST_CASE_INPUTS` custody inputs, a P2TR recipient and
    a change output of the custody script (:mod:`domain.custody_script`), at the cap."""
    return fee_rate_cap_sat_vb * estimate_vsize(WORST_CASE_INPUTS, [_WORST_RECIPIENT, custody.output_type],
                                                input_weight_wu=custody.input_weight_wu)


def minimum_floor_sats(fee_rate_cap_sat_vb: int, dust_limit_sats: int = DUST_LIMIT_SATS, *,
                       custody: CustodyScript = P2WPKH_CUSTODY) -> int:
    """The lowest ``withdrawals.minimum_sats`` that always leaves the recipient a non-dust output."""
    return worst_case_fee_sats(fee_rate_cap_sat_vb, custody=custody) + dust_limit_sats


def needs_approval(amount_sats: int, threshold_sats: int) -> bool:
    """At or above the threshold an operator must approve (issue 8)."""
    return amount_sats >= threshold_sats


def check_request(*, amount_sats: int, minimum_sats: int, token_address: str | None, istsi_token: str) -> None:
    """Amount and token of a withdrawal request.

    Raises:
        BelowMinimum: ``amount_sats < minimum_sats``.
        WrongToken: a token other than the configured iSTSi contract was named.
    """
    if token_address is not None and token_address != istsi_token:
        raise WrongToken("token_address must be the configured iSTSi contract")
    if amount_sats < minimum_sats:
        raise BelowMinimum(f"the minimum withdrawal is {minimum_sats} sats", code=WITHDRAWAL_BELOW_MINIMUM)


def validate_decision(decision: ApprovalDecision, requester_id: str) -> None:
    """A decision needs a reason, and the approver may not be the requester (four eyes).

    Raises:
        InvalidDecision: reason empty, or approver is the requester.
    """
    if not decision.reason.strip():
        raise InvalidDecision("a decision needs a reason")
    if decision.approver_id == requester_id:
        raise InvalidDecision("an operator cannot approve or reject their own withdrawal")


def router_withdrawal_id(operation_id: str | uuid.UUID) -> bytes:
    """The router's ``withdrawal_id: BytesN<32>``: the operation UUID's 16 bytes, zero padded."""
    return uuid.UUID(str(operation_id)).bytes + bytes(16)


def burn_key(operation_id: str) -> str:
    """``chain_submissions.idempotency_key`` of the withdrawal's one burn."""
    return f"withdrawal-burn:{operation_id}"


def complete_key(operation_id: str) -> str:
    return f"withdrawal-complete:{operation_id}"


def cancel_key(operation_id: str) -> str:
    return f"withdrawal-cancel:{operation_id}"
