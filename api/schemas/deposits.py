"""Deposit payloads: the request to credit a BTC output, its acceptance, the deposit address."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from api.schemas.amounts import Sats
from api.schemas.operations import OperationAccepted
from api.schemas.users import stellar_address_or_none
from contracts.workflow_ids import MAX_VOUT

TxId = Annotated[str, StringConstraints(strip_whitespace=True, to_lower=True, pattern=r"^[0-9a-fA-F]{64}$")]


class DepositRequest(BaseModel):
    """``POST /api/integration/bitcoin-deposit``: the output ``btc_tx_hash:vout`` pays ``btc_amount`` sats
    to the caller's deposit address."""

    model_config = ConfigDict(extra="forbid")

    btc_amount: Sats("Amount of the output in whole satoshis (1 to 2,100,000,000,000,000), a JSON integer")
    btc_tx_hash: TxId = Field(description="Bitcoin txid, 64 hex characters")
    vout: int = Field(0, ge=0, le=MAX_VOUT, description="Output index (default 0)")
    stellar_address: str | None = Field(None, description="Where to mint; must be your profile's (default)")

    @field_validator("stellar_address")
    @classmethod
    def _check_stellar(cls, value: str | None) -> str | None:
        return stellar_address_or_none(value)


class DepositAccepted(OperationAccepted):
    """202 answer: the operation to follow (``GET /api/integration/operations/{id}``)."""


class PendingReceiptOut(BaseModel):
    """BTC that reached the deposit address but is not a deposit yet (below ``deposits.minimum_sats``
    on its own, or released by a deposit that ended): credited once the receipts add up."""

    outpoint: str
    amount_sats: int
    confirmed: bool


class DepositAddressOut(BaseModel):
    address: str
    network: str
    """Bitcoin network the address is for (``regtest``, ``signet``, ``testnet``, ``mainnet``)."""
    minimum_sats: int = 0
    """Smallest amount credited as a deposit; smaller receipts wait until they add up to it."""
    pending_receipts: list[PendingReceiptOut] = []
    pending_receipts_sats: int = 0
