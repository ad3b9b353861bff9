"""Temporal SDK metrics for Prometheus: one Runtime per process, serving on
``temporal.metrics_bind_address`` (notes A13). Custom counters created through the SDK's metric
meter (e.g. ``custody_alerts``) are served on the same endpoint."""

from __future__ import annotations

from functools import cache

from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig


@cache
def prometheus_runtime(bind_address: str) -> Runtime:
    """The process's Runtime exporting metrics at ``bind_address`` (``host:port``); created once."""
    return Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=bind_address)))


def runtime_for(bind_address: str) -> Runtime | None:
    """A Prometheus-exporting Runtime, or None (the SDK default) when no address is configured."""
    return prometheus_runtime(bind_address) if bind_address else None
