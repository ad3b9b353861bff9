"""``/api/system``: health (real probes of every dependency)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.deps import StateDep
from api.schemas.system import DependencyHealth, HealthReport
from api.version import API_VERSION
from services.health import run_probes

router = APIRouter(prefix="/system", tags=["system"])
index_router = APIRouter(tags=["system"])


@index_router.get("/api")
async def index() -> dict[str, str]:
    """Where to start: the API's name and version and links to the docs, health and public info."""
    return {
        "name": "Bitcoin custody engine",
        "version": API_VERSION,
        "docs": "/docs",
        "openapi": "/openapi.json",
        "health": "/api/system/health",
        "info": "/api/system/info",
    }


@router.get(
    "/health",
    response_model=HealthReport,
    responses={503: {"model": HealthReport, "description": "a dependency is down"}},
)
async def health(state: StateDep) -> JSONResponse:
    """200 when every dependency answers, else 503; the body names each dependency's state."""
    results = await run_probes(state.probes)
    deps = {
        r.name: DependencyHealth(name=r.name, status="ok" if r.ok else "down", latency_ms=r.latency_ms, detail=r.detail)
        for r in results
    }
    healthy = all(r.ok for r in results)
    report = HealthReport(status="ok" if healthy else "degraded", version=API_VERSION, dependencies=deps)
    return JSONResponse(report.model_dump(), status_code=200 if healthy else 503)
