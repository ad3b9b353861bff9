"""What one API process holds for its lifetime: settings, database pool, Temporal gateway, probes."""

from __future__ import annotations

from dataclasses import dataclass, field

from temporalio.client import Client
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from api.health import Probe, database_probe, temporal_probe
from api.temporal import TemporalGateway
from config.settings import Settings
from db.session import make_async_engine, make_sessionmaker


@dataclass
class AppState:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    temporal: TemporalGateway
    probes: dict[str, Probe] = field(default_factory=dict)

    @classmethod
    def build(cls, settings: Settings, *, temporal_client: Client | None = None) -> AppState:
        """Open the pool; ``temporal_client`` (tests) replaces the lazily connected one."""
        engine = make_async_engine(settings.database)
        temporal = TemporalGateway(settings.temporal, client=temporal_client)
        state = cls(settings, engine, make_sessionmaker(engine), temporal)
        state.probes = {"database": database_probe(engine), "temporal": temporal_probe(temporal)}
        return state

    async def close(self) -> None:
        await self.engine.dispose()
