"""What the worker runs: every workflow class and every activity, built with real dependencies.

Each capability adds its workflows to :func:`workflows` and its activity objects to
:func:`activities`; the worker and the tests both build from here, so they cannot drift.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from activities.baseline import noop
from activities.chain_submissions import ChainSubmitter
from activities.channel_pool import PgChannelPool
from activities.deposit_detection import DepositDetection
from activities.deposit_guards import DepositGuards
from activities.deposit_policy import DepositPolicy
from activities.deposits import DepositActivities
from activities.kyc import KycActivities
from activities.kyc_notify import KycNotifications
from chains.bitcoin.esplora import EsploraClient
from chains.bitcoin.setup import custody_wallet, esplora_client
from chains.bitcoin.wallet import CustodyWallet
from chains.soroban.client import SorobanClient
from chains.soroban.contracts import Contracts
from chains.soroban.setup import channel_keys, operator_key, soroban_client
from config.settings import Settings
from db.encryption import RecordCipher
from db.session import make_async_engine, make_sessionmaker
from domain.sanctions import SanctionsList
from workers import reserves_registry, withdrawals_registry
from workflows.baseline import BaselineWorkflow
from workflows.deposit import DepositWorkflow
from workflows.deposit_scan import DepositScanWorkflow
from workflows.kyc import KycApprovalWorkflow


@dataclass
class WorkerDeps:
    """Long-lived clients the activities share within one worker process."""

    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    esplora: EsploraClient
    soroban: SorobanClient
    contracts: Contracts
    submitter: ChainSubmitter
    wallet: CustodyWallet

    @classmethod
    async def build(cls, settings: Settings, *, soroban_overrides: dict[str, Any] | None = None) -> WorkerDeps:
        """Open the pool and the chain clients; refuse a Stellar RPC on another network.

        Raises:
            NetworkMismatch: the RPC's passphrase differs from ``soroban.network_passphrase``.
            OperatorKeyError, WalletError: keys or descriptor missing or invalid.
            ChannelKeyError: ``soroban.channel_count`` > 0 and the channel secrets are wrong.
        """
        engine = make_async_engine(settings.database)
        sessions = make_sessionmaker(engine)
        soroban = soroban_client(
            settings.soroban, channels=await channel_pool(settings, sessions), **(soroban_overrides or {})
        )
        await soroban.check_network()
        return cls(
            settings=settings,
            engine=engine,
            sessions=sessions,
            esplora=esplora_client(settings.bitcoin),
            soroban=soroban,
            contracts=Contracts.for_client(soroban),
            submitter=ChainSubmitter(sessions, soroban),
            wallet=custody_wallet(settings.bitcoin),
        )

    async def close(self) -> None:
        await self.esplora.aclose()
        await self.soroban.close()
        await self.engine.dispose()


async def channel_pool(settings: Settings, sessions: async_sessionmaker[AsyncSession]) -> PgChannelPool | None:
    """The Postgres-leased pool of the configured channel accounts (None when there are none);
    their rows are created on first use."""
    s = settings.soroban
    keys = channel_keys(s, operator_public_key=operator_key(s).public_key)
    if not keys:
        return None
    pool = PgChannelPool(
        sessions, keys,
        lease_seconds=s.tx_timeout_seconds + s.channel_lease_margin_seconds,
        min_balance_stroops=s.channel_min_balance_stroops,
        balance_check_seconds=s.channel_balance_check_seconds,
    )
    await pool.register()
    return pool


def kyc_activities(deps: WorkerDeps) -> KycActivities:
    kyc = deps.settings.kyc
    return KycActivities(
        sessions=deps.sessions,
        contracts=deps.contracts,
        submitter=deps.submitter,
        cipher=RecordCipher(kyc.encryption_keys, kyc.active_key_id),
        sanctions=SanctionsList.load(kyc.sanctions_list_file),
    )


def deposit_activities(deps: WorkerDeps) -> list[Callable[..., Any]]:
    deposits = DepositActivities(
        settings=deps.settings, sessions=deps.sessions, esplora=deps.esplora,
        contracts=deps.contracts, submitter=deps.submitter,
    )
    policy = DepositPolicy(settings=deps.settings, sessions=deps.sessions, contracts=deps.contracts)
    guards = DepositGuards(sessions=deps.sessions, esplora=deps.esplora, settings=deps.settings)
    detection = DepositDetection(settings=deps.settings, sessions=deps.sessions, esplora=deps.esplora,
                                 wallet=deps.wallet)
    return [*deposits.all(), *policy.all(), *guards.all(), *detection.all()]


def workflows() -> list[type]:
    return [BaselineWorkflow, KycApprovalWorkflow, DepositWorkflow, DepositScanWorkflow, *reserves_registry.WORKFLOWS, *withdrawals_registry.WORKFLOWS]


def activities(deps: WorkerDeps) -> list[Callable[..., Any]]:
    return [noop, *kyc_activities(deps).all(), *KycNotifications(sessions=deps.sessions).all(), *deposit_activities(deps), *reserves_registry.activities(deps), *withdrawals_registry.activities(deps)]
