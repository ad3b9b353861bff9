"""Schemas of the system endpoints."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel


class DependencyHealth(BaseModel):
    name: str
    status: Literal["ok", "down"]
    latency_ms: float
    detail: str | None = None


class HealthReport(BaseModel):
    status: Literal["ok", "degraded"]
    version: str
    dependencies: dict[str, DependencyHealth]
