"""Reading KYC state by intent: a user's effective tier, records, the review queue."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import KycRecord, User
from db.queries.keyset import Position, newest_first
from domain.kyc import KycStatus, KycTier, missing_for_registration
from domain.user_waits import KycSnapshot


async def current_tier(session: AsyncSession, *, user_id: uuid.UUID, now: datetime) -> int:
    """Highest tier of the user's approved, unexpired records; 0 (None) when there is none."""
    tier = (
        await session.execute(
            select(func.max(KycRecord.tier)).where(
                KycRecord.user_id == user_id,
                KycRecord.status == KycStatus.APPROVED.value,
                KycRecord.expires_at > now,
            )
        )
    ).scalar_one_or_none()
    return int(tier) if tier is not None else KycTier.NONE


async def snapshot(session: AsyncSession, *, user_id: uuid.UUID, now: datetime) -> KycSnapshot:
    """The user's effective tier and their latest submission, for the policy steps."""
    tier = await current_tier(session, user_id=user_id, now=now)
    latest = await latest_record(session, user_id=user_id)
    if latest is None:
        return KycSnapshot(tier=tier)
    return KycSnapshot(
        tier=tier, latest_status=latest.status, latest_tier=latest.tier, latest_record_id=str(latest.id),
        latest_expires_at=latest.expires_at,
        latest_missing=missing_for_registration(tier=latest.tier, jurisdiction=latest.jurisdiction),
    )


async def get_record(session: AsyncSession, *, record_id: uuid.UUID, for_update: bool = False) -> KycRecord | None:
    stmt = select(KycRecord).where(KycRecord.id == record_id)
    if for_update:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def latest_record(session: AsyncSession, *, user_id: uuid.UUID) -> KycRecord | None:
    """The user's most recent submission, whatever its status."""
    return (
        await session.execute(
            select(KycRecord).where(KycRecord.user_id == user_id).order_by(KycRecord.created_at.desc()).limit(1)
        )
    ).scalar_one_or_none()


async def newer_approved_exists(session: AsyncSession, *, record: KycRecord) -> bool:
    """Whether the user has an approved record newer than ``record`` (then ``record`` is superseded)."""
    return (
        await session.execute(
            select(KycRecord.id).where(
                KycRecord.user_id == record.user_id,
                KycRecord.status == KycStatus.APPROVED.value,
                KycRecord.created_at > record.created_at,
            )
        )
    ).first() is not None


async def list_by_status(
    session: AsyncSession, *, status: str | None, after: Position | None, limit: int
) -> list[tuple[KycRecord, str]]:
    """Records (with the subject's e-mail), newest first, ``limit + 1`` rows for paging."""
    stmt = select(KycRecord, User.email).join(User, User.id == KycRecord.user_id)
    if status is not None:
        stmt = stmt.where(KycRecord.status == status)
    stmt = newest_first(stmt, created_at=KycRecord.created_at, id_=KycRecord.id, after=after, limit=limit)
    return [(record, email) for record, email in (await session.execute(stmt)).all()]


async def list_pending_created_between(
    session: AsyncSession, *, created_after: datetime, created_before: datetime, limit: int = 500
) -> list[KycRecord]:
    """Pending records submitted in ``[created_after, created_before)``, oldest first, at most
    ``limit`` (the scan's heal of submissions whose workflow start failed)."""
    stmt = (select(KycRecord).where(KycRecord.status == KycStatus.PENDING.value, KycRecord.created_at >= created_after,
                                    KycRecord.created_at < created_before)
            .order_by(KycRecord.created_at).limit(limit))
    return list((await session.execute(stmt)).scalars())
