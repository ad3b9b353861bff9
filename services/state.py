"""What one API process holds for its lifetime: settings, database pool, Temporal gateway, chain
clients, probes. Services receive it; routers get it from the app (``api.deps.StateDep``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from stellar_sdk import SorobanServerAsync
from temporalio.client import Client

from chains.bitcoin.esplora import EsploraClient
from chains.bitcoin.setup import esplora_client
from config.settings import Settings
from db.session import make_async_engine, make_sessionmaker
from services.health import Probe, database_probe, esplora_probe, soroban_probe, temporal_probe
from services.temporal_gateway import TemporalGateway


@dataclass
class AppState:
    """The process's long-lived dependencies (built once by :meth:`build`, closed by :meth:`close`)."""

    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    temporal: TemporalGateway
    esplora: EsploraClient
    stellar_rpc: SorobanServerAsync
    probes: dict[str, Probe] = field(default_factory=dict)

    @classmethod
    def build(cls, settings: Settings, *, temporal_client: Client | None = None) -> AppState:
        """Open the pool; ``temporal_client`` (tests) replaces the lazily connected one."""
        engine = make_async_engine(settings.database)
        temporal = TemporalGateway(settings.temporal, client=temporal_client)
        esplora = esplora_client(settings.bitcoin)
        stellar_rpc = SorobanServerAsync(settings.soroban.rpc_url)
        state = cls(settings, engine, make_sessionmaker(engine), temporal, esplora, stellar_rpc)
        state.probes = {
            "database": database_probe(engine),
            "temporal": temporal_probe(temporal),
            "bitcoin": esplora_probe(esplora),
            "soroban": soroban_probe(stellar_rpc, settings.soroban.passphrase()),
        }
        return state

    async def close(self) -> None:
        """Close the chain clients and the database pool."""
        await self.esplora.aclose()
        await self.stellar_rpc.close()
        await self.engine.dispose()
