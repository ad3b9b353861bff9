"""Typed wrappers of the four docs/CONTRACTS.md contracts, plus a bundle built from one client."""

from __future__ import annotations

from dataclasses import dataclass

from chains.soroban.client import SorobanClient
from chains.soroban.contracts.kyc import KycOp, KycRegistry
from chains.soroban.contracts.reserve import ReserveManager, ReserveProof
from chains.soroban.contracts.router import IntegrationRouter, Role
from chains.soroban.contracts.token import IstsiToken


@dataclass(frozen=True)
class Contracts:
    """All four wrappers over one client, at the client's configured addresses."""

    router: IntegrationRouter
    kyc: KycRegistry
    token: IstsiToken
    reserve: ReserveManager

    @classmethod
    def for_client(cls, client: SorobanClient) -> Contracts:
        a = client.contracts
        return cls(
            router=IntegrationRouter(client, a.integration_router),
            kyc=KycRegistry(client, a.kyc_registry),
            token=IstsiToken(client, a.istsi_token),
            reserve=ReserveManager(client, a.reserve_manager),
        )


__all__ = ["Contracts", "IntegrationRouter", "IstsiToken", "KycOp", "KycRegistry", "ReserveManager", "ReserveProof", "Role"]
