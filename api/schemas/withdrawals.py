"""Withdrawal payloads: the request, its acceptance, operator decisions, the external signer's PSBT."""

from __future__ import annotations

import uuid
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from api.schemas.amounts import Sats
from api.schemas.operations import OperationAccepted, Reason
from api.schemas.payouts import Psbt
from db.queries.payouts import WithdrawalPayout
from domain.withdrawals import PayoutPriority


class WithdrawalRequest(BaseModel):
    """``POST /api/integration/token-withdrawal``: burn ``token_amount`` iSTSi, receive BTC at
    ``btc_address``. The network fee comes out of the amount (README, "Withdrawals"): in a batch,
    your output's share of it."""

    model_config = ConfigDict(extra="forbid")

    token_amount: Sats("iSTSi base units to redeem (1 unit = 1 satoshi; 1 to 2,100,000,000,000,000), a JSON integer")
    btc_address: Annotated[str, StringConstraints(strip_whitespace=True, min_length=14, max_length=100)]
    token_address: str | None = Field(None, description="Must be the configured iSTSi contract when given")
    priority: PayoutPriority = Field(
        PayoutPriority.BATCH, description="batch: paid with the next batch, sharing the fee; asap: paid at once in a "
                             "transaction of its own, bearing its whole fee")


class WithdrawalAccepted(OperationAccepted):
    """202 answer: the operation to follow (``GET /api/integration/operations/{id}``)."""


class DecisionIn(BaseModel):
    """``POST /api/admin/operations/{id}/approve|reject``: why (required, audited)."""

    model_config = ConfigDict(extra="forbid")

    reason: Reason


class DecisionOut(BaseModel):
    operation_id: uuid.UUID
    decision: str
    stage: str


class UserCancelIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] = ""


class CancelAccepted(BaseModel):
    operation_id: uuid.UUID
    stage: str


class SignedPsbtIn(BaseModel):
    """``POST /api/admin/operations/{id}/signed-psbt``: the payout PSBT (base64, BIP 174), signed."""

    model_config = ConfigDict(extra="forbid")

    psbt: Psbt


class SignedPsbtAccepted(BaseModel):
    operation_id: uuid.UUID
    txid: str


class PayoutOut(BaseModel):
    """A withdrawal's payout (for operators and external signers). Amounts in sats: the recipient
    receives ``amount_sats``, the withdrawal's fee share is ``fee_sats``; ``psbt`` is the payout
    version shown (the batch's PSBT to sign while it awaits signatures)."""

    operation_id: uuid.UUID
    payout_id: uuid.UUID
    status: str
    txid: str | None
    vout: int | None
    recipient_address: str
    amount_sats: int
    fee_sats: int
    fee_rate_sat_vb: int
    batch_outputs: int
    version: int
    change_sats: int
    psbt: str

    @classmethod
    def of(cls, operation_id: uuid.UUID, row: WithdrawalPayout) -> PayoutOut:
        return cls(
            operation_id=operation_id, payout_id=row.payout_id, status=row.status, txid=row.txid, vout=row.vout,
            recipient_address=row.recipient_address, amount_sats=row.amount_sats, fee_sats=row.fee_sats,
            fee_rate_sat_vb=row.fee_rate_sat_vb, batch_outputs=row.batch_outputs, version=row.version,
            change_sats=row.change_sats, psbt=row.psbt,
        )
