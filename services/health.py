"""Dependency probes behind ``GET /api/system/health``.

A probe is an async callable that returns a short detail string or raises; each runs with its own
timeout and all run concurrently, so one hung dependency cannot stall the others.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from stellar_sdk import SorobanServerAsync

from chains.bitcoin.esplora import EsploraClient
from services.temporal_gateway import TemporalGateway

Probe = Callable[[], Awaitable[str | None]]
PROBE_TIMEOUT_SECONDS = 2.0


@dataclass(frozen=True)
class ProbeResult:
    """One probe's outcome: ok or not, how long it took (ms) and a short detail."""

    name: str
    ok: bool
    latency_ms: float
    detail: str | None = None


async def run_probe(name: str, probe: Probe, timeout: float = PROBE_TIMEOUT_SECONDS) -> ProbeResult:
    """Run one probe within ``timeout`` seconds; a failure is reported, never raised."""
    started = time.perf_counter()
    try:
        detail = await asyncio.wait_for(probe(), timeout=timeout)
        ok = True
    except TimeoutError:
        ok, detail = False, f"no answer within {timeout:g} s"
    except Exception as exc:  # a probe reports, never raises: the endpoint must keep serving
        ok, detail = False, _describe(exc)
    return ProbeResult(name, ok, round((time.perf_counter() - started) * 1000, 2), detail)


def _describe(exc: Exception) -> str:
    # Class name plus the first line only: driver messages can carry connection strings.
    first = str(exc).splitlines()[0] if str(exc) else ""
    if "@" in first or "password" in first.lower():
        first = ""
    return f"{type(exc).__name__}: {first}"[:200] if first else type(exc).__name__


async def run_probes(probes: dict[str, Probe]) -> list[ProbeResult]:
    """Run every probe concurrently (each with its own timeout)."""
    return list(await asyncio.gather(*(run_probe(name, p) for name, p in probes.items())))


def database_probe(engine: AsyncEngine) -> Probe:
    """``SELECT 1`` on a pooled connection."""

    async def probe() -> str | None:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        return None

    return probe


def esplora_probe(client: EsploraClient) -> Probe:
    """The chain source's tip height."""

    async def probe() -> str | None:
        return f"tip height {await client.tip_height()}"

    return probe


def soroban_probe(server: SorobanServerAsync, passphrase: str) -> Probe:
    """Healthy RPC on the configured network (a passphrase mismatch is reported as down)."""

    async def probe() -> str | None:
        network = await server.get_network()
        if network.passphrase != passphrase:
            raise RuntimeError("RPC serves another network than configured")
        health = await server.get_health()
        if health.status != "healthy":
            raise RuntimeError(f"RPC status {health.status}")
        return f"ledger {health.latest_ledger}"

    return probe


def temporal_probe(gateway: TemporalGateway) -> Probe:
    """A health check round-trip to the Temporal frontend."""

    async def probe() -> str | None:
        await gateway.ping()
        return None

    return probe
