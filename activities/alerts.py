"""Raising an operator alert: one ERROR log line with a stable ``alert`` field (what log-based
alerting matches on) and a ``custody_alerts`` counter on the worker's Prometheus endpoint
(Temporal SDK metric meter, served with the SDK metrics, ``temporal.metrics_bind_address``).

Alert names: ``reserve_ratio_low``, ``reconciliation_discrepancy``, ``emergency_pause``,
``event_monitor_behind_retention``.
"""

from __future__ import annotations

import logging
from typing import Any

from temporalio import activity

log = logging.getLogger("custody.alerts")


def raise_alert(alert: str, message: str, **fields: Any) -> None:
    """Log ``message`` at ERROR with ``alert`` and ``fields`` and count it (inside an activity)."""
    log.error(message, extra={"alert": alert, **fields})
    if activity.in_activity():
        counter = activity.metric_meter().create_counter("custody_alerts", "Operator alerts raised, by name")
        counter.add(1, {"alert": alert})
