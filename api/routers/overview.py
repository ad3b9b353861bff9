"""``GET /api/system/overview``: what an operator checks first (all from Postgres projections)."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter

from api.auth.dependencies import ROLE_RESPONSES, OperatorAuth
from api.deps import SessionDep
from api.schemas.reserves import OverviewOut, PauseOut
from db.queries import overview as q
from db.queries import reserve_proofs as proofs
from db.queries.system_state import get_pause
from services.system import event_monitor_cursor

router = APIRouter(prefix="/system", tags=["system"])


@router.get("/overview", response_model=OverviewOut, responses=ROLE_RESPONSES)
async def overview(auth: OperatorAuth, session: SessionDep) -> OverviewOut:
    """Reserves, supply, ratio, operations by status, active users (24 h), last reconciliation
    and proof, pause state and event-monitor position."""
    now = datetime.now(UTC)
    proof = await proofs.latest_published(session)
    run = await q.latest_reconciliation(session)
    cursor = await event_monitor_cursor(session)
    pause = await get_pause(session)
    return OverviewOut(
        reserves_sats=proof.reserves_sats if proof else None,
        supply_units=proof.supply_units if proof else None,
        ratio_bps=proof.ratio_bps if proof else None,
        reserve_status=(proof.reserve_status or "unknown") if proof else "unknown",
        operations_by_status=await q.operations_by_status(session),
        active_users_24h=await q.active_users(session, since=now - q.DAY),
        last_reconciliation=None if run is None else {
            "run_id": str(run.id), "started_at": run.started_at.isoformat(), "max_severity": run.max_severity,
            "paused": run.paused, "figures": run.figures,
        },
        last_proof=None if proof is None else {
            "proof_id": str(proof.id), "created_at": proof.created_at.isoformat(), "root_hash": proof.root_hash,
            "published_tx_hash": proof.published_tx_hash,
        },
        pause=PauseOut(minting=pause.minting, withdrawals=pause.withdrawals, reason=pause.reason),
        event_monitor=None if cursor is None else {
            "last_ledger": cursor.last_ledger, "latest_ledger": cursor.latest_ledger,
            "lag_ledgers": max(cursor.latest_ledger - cursor.last_ledger, 0), "updated_at": cursor.updated_at.isoformat(),
        },
    )
