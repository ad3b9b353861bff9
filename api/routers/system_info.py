"""``GET /api/system/info``: public facts a client needs before depositing (no authentication)."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from api.deps import StateDep
from api.version import API_VERSION

router = APIRouter(prefix="/system", tags=["system"])


class ContractsOut(BaseModel):
    integration_router: str
    kyc_registry: str
    istsi_token: str
    reserve_manager: str


class SystemInfo(BaseModel):
    """Networks, contract addresses, deposit depth (blocks) and minimum amounts (satoshis)."""

    api_version: str
    bitcoin_network: str
    stellar_network: str
    stellar_network_passphrase: str
    contracts: ContractsOut
    min_confirmations: int
    large_deposit_threshold_sats: int
    large_deposit_confirmations: int
    minimum_deposit_sats: int
    token_decimals: int = 8


@router.get("/info")
async def system_info(state: StateDep) -> SystemInfo:
    """Everything here comes from configuration; nothing is secret."""
    s = state.settings
    return SystemInfo(
        api_version=API_VERSION,
        bitcoin_network=s.bitcoin.network,
        stellar_network=s.soroban.network,
        stellar_network_passphrase=s.soroban.passphrase(),
        contracts=ContractsOut(**s.soroban.contracts.model_dump()),
        min_confirmations=s.bitcoin.min_confirmations,
        large_deposit_threshold_sats=s.bitcoin.large_deposit_threshold_sats,
        large_deposit_confirmations=s.bitcoin.large_deposit_confirmations,
        minimum_deposit_sats=s.deposits.minimum_sats,
    )
