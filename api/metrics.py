"""``GET /metrics``: engine gauges in Prometheus text format, computed from Postgres at scrape time.

Temporal SDK metrics (task latencies, slots, failures) and the ``custody_alerts`` counter are
served by the worker at ``temporal.metrics_bind_address``; scrape both targets.
"""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Gauge, generate_latest

from api.deps import SessionDep
from db.queries import overview as q
from db.queries import reserve_proofs as proofs
from db.queries import soroban_channels
from db.queries.system_state import get_pause
from domain.reserves import Severity
from services.system import event_monitor_cursor

router = APIRouter(tags=["metrics"])


def _gauge(registry: CollectorRegistry, name: str, doc: str, labels: tuple[str, ...] = ()) -> Gauge:
    return Gauge(name, doc, labels, registry=registry)


@router.get("/metrics", include_in_schema=False)
async def metrics(session: SessionDep) -> Response:
    """One fresh registry per scrape, so values never go stale between processes."""
    registry = CollectorRegistry()
    ops = _gauge(registry, "custody_operations", "Operations by type and status", ("operation_type", "status"))
    for op_type, by_status in (await q.operations_by_status(session)).items():
        for status, count in by_status.items():
            ops.labels(op_type, status).set(count)
    _gauge(registry, "custody_oldest_pending_operation_age_seconds", "Age of the oldest pending/processing operation").set(
        await q.oldest_pending_age_seconds(session, now=datetime.now(UTC))
    )
    proof = await proofs.latest_published(session)
    if proof is not None and proof.ratio_bps is not None:
        _gauge(registry, "custody_reserve_ratio_bps", "Reserve ratio of the latest published proof").set(proof.ratio_bps)
    cursor = await event_monitor_cursor(session)
    if cursor is not None:
        _gauge(registry, "custody_event_monitor_lag_ledgers", "Ledgers the event monitor is behind").set(
            max(cursor.latest_ledger - cursor.last_ledger, 0)
        )
    run = await q.latest_reconciliation(session)
    if run is not None:
        _gauge(registry, "custody_last_discrepancy_bps", "Largest discrepancy of the last reconciliation").set(
            await q.worst_discrepancy_bps(session, run_id=run.id)
        )
        _gauge(registry, "custody_last_discrepancy_severity", "Worst severity of the last reconciliation (0 none … 4 emergency)").set(
            Severity(run.max_severity).rank
        )
    channels = await soroban_channels.balances(session)
    if channels:
        balance = _gauge(registry, "custody_soroban_channel_balance_stroops",
                         "XLM balance of each Soroban channel account at its last check", ("channel",))
        for public_key, stroops in channels.items():
            balance.labels(public_key).set(stroops)
    pause = await get_pause(session)
    paused = _gauge(registry, "custody_paused", "1 when paused", ("scope",))
    paused.labels("minting").set(int(pause.minting))
    paused.labels("withdrawals").set(int(pause.withdrawals))
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
