"""Pausing and resuming money movement: the engine's flag (``system_state``) and the router's.

The engine flag is what workflows and the API check; the router flag stops the contracts
themselves (docs/CONTRACTS.md ``emergency_pause`` / ``resume_operations``). Chain calls go through
:class:`ChainSubmitter`, so a retried activity never sends a second transaction.
"""

from __future__ import annotations

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.alerts import raise_alert
from activities.chain_submissions import ChainSubmitter
from chains.soroban.contracts import Contracts
from chains.soroban.errors import ContractError
from contracts.reconciliation import ChainPauseInput, EmergencyPauseInput
from db.audit import record_audit
from db.models import ReconciliationRun
from db.queries.system_state import get_pause, set_pause
from db.session import transaction
from domain.pause import PauseState


class PauseActivities:
    def __init__(self, sessions, contracts: Contracts, submitter: ChainSubmitter) -> None:
        self.sessions = sessions
        self.contracts = contracts
        self.submitter = submitter

    @activity.defn(name="pause_engine_for_emergency")
    async def pause_engine_for_emergency(self, inp: EmergencyPauseInput) -> None:
        """Pause minting and withdrawals in the engine, audit it and flag the run (one transaction)."""
        async with transaction(self.sessions) as session:
            old = await get_pause(session)
            new = PauseState(minting=True, withdrawals=True, reason=inp.reason)
            await set_pause(session, state=new, actor_id=None)
            record_audit(
                session, action="system.emergency_pause", resource_type="system_state", resource_id="pause",
                old_values=old.__dict__, new_values={**new.__dict__, "reconciliation_run_id": str(inp.run_id)},
            )
            run = await session.get(ReconciliationRun, inp.run_id)
            if run is not None:
                run.paused = True
        raise_alert("emergency_pause", "emergency pause: minting and withdrawals stopped",
                    run_id=str(inp.run_id), reason=inp.reason)

    @activity.defn(name="apply_chain_pause")
    async def apply_chain_pause(self, inp: ChainPauseInput) -> str | None:
        """Set the router's pause flag; return the tx hash, or None when it already had that value."""
        if await self.contracts.router.is_paused() == inp.paused:
            return None
        router = self.contracts.router
        try:
            record = await self.submitter.submit_once(
                f"chain-pause:{inp.key}", contract="integration_router",
                function="emergency_pause" if inp.paused else "resume_operations",
                invoke=(lambda store: router.emergency_pause(inp.reason or "paused", store=store)) if inp.paused
                else (lambda store: router.resume_operations(store=store)),
            )
        except ContractError as exc:  # e.g. the operator lacks the role: a person must act
            raise ApplicationError(f"router refused: {exc.name}", type="ContractError", non_retryable=True) from exc
        return record["tx_hash"]
