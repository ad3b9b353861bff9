"""Payout payloads for operators and external signers: a payout (a batch transaction and its
versions), a signer's contribution, a bump request, the fee reserve. Amounts in satoshis, rates
in sat/vB."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from api.schemas.operations import Reason
from db.models import Payout, PayoutItem, PayoutSignature, PayoutVersion

Psbt = Annotated[str, StringConstraints(strip_whitespace=True, min_length=10, max_length=400_000)]


class SignatureOut(BaseModel):
    """One cosigner key's contribution to a version: which key, who (``hot`` or an operator)."""

    key_index: int
    fingerprint: str
    signer: str
    user_id: uuid.UUID | None

    @classmethod
    def of(cls, row: PayoutSignature) -> SignatureOut:
        return cls(key_index=row.key_index, fingerprint=row.fingerprint, signer=row.signer, user_id=row.user_id)


class VersionOut(BaseModel):
    """One transaction of the payout: version 0, an RBF replacement or a CPFP child."""

    version: int
    kind: str
    status: str
    txid: str
    parent_txid: str
    fee_sats: int
    fee_rate_sat_vb: int
    extra_fee_sats: int
    change_sats: int
    signatures_required: int
    signatures: list[SignatureOut]
    psbt: str | None = Field(None, description="The PSBT to sign while the version awaits signatures")

    @classmethod
    def of(cls, row: PayoutVersion, signatures: list[PayoutSignature]) -> VersionOut:
        return cls(
            version=row.version, kind=row.kind, status=row.status, txid=row.txid, parent_txid=row.parent_txid,
            fee_sats=row.fee_sats, fee_rate_sat_vb=row.fee_rate_sat_vb, extra_fee_sats=row.extra_fee_sats,
            change_sats=row.change_sats, signatures_required=row.signatures_required,
            signatures=[SignatureOut.of(s) for s in signatures],
            psbt=row.psbt if row.status == "awaiting_signature" else None,
        )


class PayoutItemOut(BaseModel):
    """One withdrawal of the batch: ``recipient_sats = amount_sats - fee_share_sats``."""

    operation_id: uuid.UUID
    status: str
    recipient_address: str
    amount_sats: int
    fee_share_sats: int | None
    recipient_sats: int | None
    vout: int | None

    @classmethod
    def of(cls, row: PayoutItem) -> PayoutItemOut:
        return cls(operation_id=row.operation_id, status=row.status, recipient_address=row.recipient_address,
                   amount_sats=row.amount_sats, fee_share_sats=row.fee_share_sats, recipient_sats=row.recipient_sats,
                   vout=row.vout)


class PayoutDetail(BaseModel):
    """``GET /api/admin/payouts/{id}``: the payout, every version, its withdrawals."""

    payout_id: uuid.UUID
    status: str
    txid: str | None
    current_version: int
    confirmed_version: int | None
    confirmations: int
    fee_sats: int
    """What the withdrawals pay (version 0's fee, shared among them)."""
    extra_fee_sats: int
    """What bumps added: the custodian's, from the fee reserve (counted once, for the version that won)."""
    fee_rate_sat_vb: int
    versions: list[VersionOut]
    items: list[PayoutItemOut]

    @classmethod
    def of(cls, payout: Payout, versions: list[tuple[PayoutVersion, list[PayoutSignature]]],
           items: list[PayoutItem]) -> PayoutDetail:
        last = payout.confirmed_version if payout.confirmed_version is not None else payout.current_version
        extra = sum(v.extra_fee_sats for v, _ in versions if 0 < v.version <= last and v.tx_hex)
        return cls(
            payout_id=payout.id, status=payout.status, txid=payout.txid, current_version=payout.current_version,
            confirmed_version=payout.confirmed_version, confirmations=payout.confirmations, fee_sats=payout.fee_sats,
            extra_fee_sats=extra, fee_rate_sat_vb=payout.fee_rate_sat_vb,
            versions=[VersionOut.of(v, s) for v, s in versions], items=[PayoutItemOut.of(i) for i in items],
        )


class SignaturesIn(BaseModel):
    """``POST /api/admin/payouts/{id}/signatures``: a signer's partially signed PSBT (BIP 174)."""

    model_config = ConfigDict(extra="forbid")

    psbt: Psbt
    version: int | None = Field(None, ge=0, description="The version signed (default: the one awaiting signatures)")


class SignaturesAccepted(BaseModel):
    payout_id: uuid.UUID
    version: int
    signed_keys: int
    required: int
    status: str
    txid: str


class BumpIn(BaseModel):
    """``POST /api/admin/payouts/{id}/bump``: bump now (audited), optionally at a rate or by a method."""

    model_config = ConfigDict(extra="forbid")

    reason: Reason
    fee_rate_sat_vb: int | None = Field(None, ge=1, le=100_000, description="Instead of the estimate; within the cap")
    method: Literal["rbf", "cpfp"] | None = None


class BumpAccepted(BaseModel):
    payout_id: uuid.UUID
    workflow_id: str


class FeeReserveOut(BaseModel):
    """The custodian's fee reserve: ``available_sats`` may pay bumps now (pending bumps held)."""

    balance_sats: int
    pending_sats: int
    available_sats: int


class FundingIn(BaseModel):
    """``POST /api/admin/fee-reserve/fundings``: assign a confirmed, unattributed custody output
    (the custodian's own BTC paid to a custody address) to the fee reserve."""

    model_config = ConfigDict(extra="forbid")

    outpoint: Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[0-9a-f]{64}:\d{1,10}$")]
    reason: Reason
