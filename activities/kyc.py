"""KYC activities: sanctions screening, decisions on the record, registration on ``kyc_registry``.

Each activity is idempotent by record id: record changes check the current status under a row
lock (a retry after commit finds the work done), and chain calls go through
:class:`ChainSubmitter` with keys ``kyc-register:<id>``, ``kyc-sanctions:<id>``, ``kyc-revoke:<id>``.
Documents are decrypted only inside :meth:`KycActivities.screen` and never logged or returned.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.chain_errors import soroban_failure
from activities.chain_submissions import ChainSubmitter
from chains.soroban.contracts import Contracts
from chains.soroban.errors import SorobanError
from contracts import kyc as t
from db.audit import record_audit
from db.encryption import RecordCipher
from db.models import AuditLog, KycRecord, User
from db.models.base import utcnow
from db.queries import kyc as kyc_q
from db.queries import users as users_q
from db.session import transaction
from domain.errors import DomainError
from domain.kyc import KycStatus, check_kyc_transition, missing_for_registration
from domain.sanctions import SanctionsList

RESOURCE = "kyc_record"


class KycActivities:
    """Built once per worker with its dependencies; pass the bound methods to the worker."""

    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        contracts: Contracts,
        submitter: ChainSubmitter,
        cipher: RecordCipher,
        sanctions: SanctionsList,
    ):
        self.sessions = sessions
        self.contracts = contracts
        self.submitter = submitter
        self.cipher = cipher
        self.sanctions = sanctions

    def all(self) -> list[Callable[..., Awaitable[object]]]:
        return [self.screen, self.reject, self.register_on_chain, self.approve, self.expire, self.revoke_on_chain]

    async def _load(self, session: AsyncSession, record_id: str, *, for_update: bool = False) -> tuple[KycRecord, User]:
        record = await kyc_q.get_record(session, record_id=uuid.UUID(record_id), for_update=for_update)
        if record is None:
            # Retryable: the API commits the row right after starting the workflow.
            raise ApplicationError(f"KYC record {record_id} not found", type="KycRecordNotFound")
        user = await users_q.get_by_id(session, user_id=record.user_id)
        assert user is not None  # foreign key
        return record, user

    @activity.defn(name=t.SCREEN)
    async def screen(self, ref: t.KycRecordRef) -> t.ScreenResult:
        """Screen the subject's full name and Stellar address against the sanctions list."""
        async with self.sessions() as session:
            record, user = await self._load(session, ref.record_id)
        document = self.cipher.decrypt(record.verification_data or {}, record_id=str(record.id))
        hits = self.sanctions.hits(full_name=document.get("full_name"), addresses=[user.stellar_address or ""])
        return t.ScreenResult(hits=hits)

    async def _decide(
        self, record_id: str, status: KycStatus, *, officer_id: str | None, reason: str | None, extra: dict
    ) -> None:
        async with transaction(self.sessions) as session:
            record, _ = await self._load(session, record_id, for_update=True)
            if record.status == status.value:
                return  # a retry after commit
            try:
                check_kyc_transition(KycStatus(record.status), status)
            except DomainError as exc:
                raise ApplicationError(str(exc), type="IllegalKycTransition", non_retryable=True) from exc
            old = {"status": record.status}
            record.status = status.value
            record.decided_by = uuid.UUID(officer_id) if officer_id else None
            record.decision_reason = reason
            record.updated_at = utcnow()
            for key, value in extra.items():
                setattr(record, key, value)
            record_audit(
                session,
                action=f"kyc.{status.value}",
                resource_type=RESOURCE,
                resource_id=record.id,
                actor_id=record.decided_by,
                old_values=old,
                new_values={"status": status.value, "reason": reason, "tier": record.tier,
                            **{k: v.isoformat() for k, v in extra.items()}},
            )

    @activity.defn(name=t.REJECT)
    async def reject(self, inp: t.RejectInput) -> None:
        """pending → rejected, with the reason and the deciding officer (None: automatic)."""
        await self._decide(inp.record_id, KycStatus.REJECTED, officer_id=inp.officer_id, reason=inp.reason, extra={})

    @activity.defn(name=t.APPROVE)
    async def approve(self, inp: t.ApproveInput) -> None:
        """pending → approved with ``approved_at`` and ``expires_at``."""
        await self._decide(
            inp.record_id, KycStatus.APPROVED, officer_id=inp.officer_id, reason=inp.reason,
            extra={"approved_at": inp.approved_at, "expires_at": inp.expires_at},
        )

    async def _chain_step(self, key: str, function: str, invoke) -> str:
        try:
            result = await self.submitter.submit_once(key, contract="kyc_registry", function=function, invoke=invoke)
        except SorobanError as exc:
            raise soroban_failure(exc) from exc
        return str(result["tx_hash"])

    async def _audit_once(self, *, action: str, record_id: str, new_values: dict) -> None:
        async with transaction(self.sessions) as session:
            seen = await session.execute(
                select(AuditLog.id).where(AuditLog.action == action, AuditLog.resource_id == record_id)
            )
            if seen.first() is None:
                record_audit(session, action=action, resource_type=RESOURCE, resource_id=record_id, new_values=new_values)

    @activity.defn(name=t.REGISTER_ON_CHAIN)
    async def register_on_chain(self, inp: t.RegisterOnChainInput) -> str:
        """Register the customer on ``kyc_registry`` (tier, jurisdiction, expiry) and clear sanctions.

        Returns the registration's transaction hash. Raises ``kyc_data_missing`` (non-retryable:
        the workflow waits for the user) when the record lacks a field the registry needs,
        ``ContractError`` (non-retryable) when the registry refuses, ``StellarAddressMissing`` when
        the profile has no address.
        """
        async with self.sessions() as session:
            record, user = await self._load(session, inp.record_id)
        missing = missing_for_registration(tier=record.tier, jurisdiction=record.jurisdiction)
        if missing:
            raise ApplicationError(
                f"the record lacks {', '.join(missing)}; the user adds it with PUT /api/kyc/records/{record.id}",
                type=t.KYC_DATA_MISSING, non_retryable=True,
            )
        if not user.stellar_address:
            raise ApplicationError("the user has no Stellar address", type="StellarAddressMissing", non_retryable=True)
        address, expires = user.stellar_address, int(inp.expires_at.timestamp())
        kyc = self.contracts.kyc
        tx_hash = await self._chain_step(
            f"kyc-register:{record.id}", "register_customer",
            lambda store: kyc.register_customer(address, record.tier, record.jurisdiction or "", expires, store=store),
        )
        await self._chain_step(
            f"kyc-sanctions:{record.id}", "set_sanctions_status",
            lambda store: kyc.set_sanctions_status(address, True, store=store),
        )
        await self._audit_once(
            action="kyc.registered_on_chain", record_id=str(record.id),
            new_values={"tier": record.tier, "stellar_address": address, "expires_at": expires, "tx_hash": tx_hash},
        )
        return tx_hash

    @activity.defn(name=t.EXPIRE)
    async def expire(self, ref: t.KycRecordRef) -> t.ExpireResult:
        """approved → expired at the end of validity; revoke on chain unless a newer approval exists."""
        async with transaction(self.sessions) as session:
            record, _ = await self._load(session, ref.record_id, for_update=True)
            if record.status == KycStatus.APPROVED.value:
                record.status, record.updated_at = KycStatus.EXPIRED.value, utcnow()
                record_audit(
                    session, action="kyc.expired", resource_type=RESOURCE, resource_id=record.id,
                    old_values={"status": KycStatus.APPROVED.value}, new_values={"status": KycStatus.EXPIRED.value},
                )
            elif record.status != KycStatus.EXPIRED.value:
                return t.ExpireResult(expired=False, revoke_on_chain=False)  # revoked or never approved
            superseded = await kyc_q.newer_approved_exists(session, record=record)
        return t.ExpireResult(expired=True, revoke_on_chain=not superseded)

    @activity.defn(name=t.REVOKE_ON_CHAIN)
    async def revoke_on_chain(self, ref: t.KycRecordRef) -> str:
        """Revoke the customer on ``kyc_registry``; returns the transaction hash."""
        async with self.sessions() as session:
            record, user = await self._load(session, ref.record_id)
        if not user.stellar_address:
            raise ApplicationError("the user has no Stellar address", type="StellarAddressMissing", non_retryable=True)
        address = user.stellar_address
        tx_hash = await self._chain_step(
            f"kyc-revoke:{record.id}", "revoke_customer",
            lambda store: self.contracts.kyc.revoke_customer(address, store=store),
        )
        await self._audit_once(action="kyc.revoked_on_chain", record_id=str(record.id), new_values={"tx_hash": tx_hash})
        return tx_hash
