"""What the worker runs for withdrawals (issues 8 and 17): the withdrawal workflow, the payout
workflow (one batch transaction and its versions) and their activity classes."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from activities.withdrawal_payouts import PayoutActivities
from activities.withdrawals import WithdrawalActivities
from workflows.payout import PayoutWorkflow
from workflows.withdrawal import WithdrawalWorkflow

if TYPE_CHECKING:
    from workers.registry import WorkerDeps

WORKFLOWS: list[type] = [WithdrawalWorkflow, PayoutWorkflow]


def activities(deps: WorkerDeps) -> list[Callable[..., Any]]:
    """Both classes over the worker's clients; the payout signer is built on first use."""
    ledger = WithdrawalActivities(
        settings=deps.settings, sessions=deps.sessions, contracts=deps.contracts, submitter=deps.submitter
    )
    payouts = PayoutActivities(settings=deps.settings, sessions=deps.sessions, esplora=deps.esplora, wallet=deps.wallet)
    return [*ledger.all(), *payouts.all()]
