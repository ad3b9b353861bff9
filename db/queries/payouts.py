"""Payout reads and writes by intent: the batch queue, payouts, their versions and signatures.

Writers run in the caller's transaction and lock what they change (``FOR UPDATE``): the queue is
cut under one advisory lock (``lock_batching``), a payout's versions change under its row lock.
Amounts are satoshis.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Payout, PayoutItem, PayoutSignature, PayoutVersion
from db.models.base import utcnow

UNFINISHED = ("awaiting_signature", "signed", "broadcast")


async def lock_batching(session: AsyncSession) -> None:
    """Transaction-scoped advisory lock: one batch is cut (and its coins chosen) at a time."""
    await session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended('payout-coin-selection', 0))"))


async def try_lock_batching(session: AsyncSession) -> bool:
    """:func:`lock_batching` unless another transaction holds it (False: it is cutting now)."""
    return bool((await session.execute(text(
        "SELECT pg_try_advisory_xact_lock(hashtextextended('payout-coin-selection', 0))"))).scalar_one())


# ---- the queue ----------------------------------------------------------------------------------

async def enqueue(session: AsyncSession, *, operation_id: uuid.UUID, recipient_address: str, amount_sats: int,
                  asap: bool) -> PayoutItem:
    """The withdrawal's item, queued now unless it exists (idempotent); locked."""
    await session.execute(insert(PayoutItem).values(
        id=uuid.uuid4(), operation_id=operation_id, status="queued", recipient_address=recipient_address,
        amount_sats=amount_sats, asap=asap,
    ).on_conflict_do_nothing(index_elements=["operation_id"]))
    item = await item_of(session, operation_id=operation_id, for_update=True)
    assert item is not None
    return item


async def item_of(session: AsyncSession, *, operation_id: uuid.UUID, for_update: bool = False) -> PayoutItem | None:
    stmt = select(PayoutItem).where(PayoutItem.operation_id == operation_id)
    if for_update:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    return (await session.execute(stmt)).scalar_one_or_none()


async def queued(session: AsyncSession) -> list[PayoutItem]:
    """Every queued item, oldest first, locked (call under :func:`lock_batching`)."""
    stmt = select(PayoutItem).where(PayoutItem.status == "queued").order_by(
        PayoutItem.queued_at, PayoutItem.id).with_for_update().execution_options(populate_existing=True)
    return list((await session.execute(stmt)).scalars())


async def items_of(session: AsyncSession, payout_id: uuid.UUID, *, for_update: bool = False) -> list[PayoutItem]:
    """The items a payout pays, in output order."""
    stmt = select(PayoutItem).where(PayoutItem.payout_id == payout_id).order_by(
        PayoutItem.vout.asc().nulls_last(), PayoutItem.queued_at, PayoutItem.id)  # type: ignore[union-attr]
    if for_update:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    return list((await session.execute(stmt)).scalars())


# ---- payouts and versions -----------------------------------------------------------------------

async def get(session: AsyncSession, payout_id: uuid.UUID, *, for_update: bool = False) -> Payout | None:
    stmt = select(Payout).where(Payout.id == payout_id)
    if for_update:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    return (await session.execute(stmt)).scalar_one_or_none()


async def versions(session: AsyncSession, payout_id: uuid.UUID, *, for_update: bool = False) -> list[PayoutVersion]:
    """Every version of a payout, oldest first."""
    stmt = select(PayoutVersion).where(PayoutVersion.payout_id == payout_id).order_by(PayoutVersion.version)
    if for_update:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    return list((await session.execute(stmt)).scalars())


async def version(session: AsyncSession, payout_id: uuid.UUID, number: int, *,
                  for_update: bool = False) -> PayoutVersion | None:
    stmt = select(PayoutVersion).where(PayoutVersion.payout_id == payout_id, PayoutVersion.version == number)
    if for_update:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    return (await session.execute(stmt)).scalar_one_or_none()


async def unfinished(session: AsyncSession) -> list[Payout]:
    """Payouts that are neither settled nor abandoned (each needs its workflow running)."""
    stmt = select(Payout).where(Payout.status.in_(UNFINISHED), Payout.operation_id.is_(None)).order_by(  # type: ignore[attr-defined,union-attr]
        Payout.created_at)
    return list((await session.execute(stmt)).scalars())


async def signatures_of(session: AsyncSession, version_id: uuid.UUID) -> list[PayoutSignature]:
    stmt = select(PayoutSignature).where(PayoutSignature.version_id == version_id).order_by(PayoutSignature.created_at)
    return list((await session.execute(stmt)).scalars())


def inputs_json(plan_inputs: Any) -> list[dict[str, Any]]:
    """The ``inputs`` form of a plan's inputs."""
    return [
        {"outpoint": u.outpoint, "amount_sats": u.amount_sats, "branch": u.branch, "derivation_index": u.derivation_index}
        for u in plan_inputs
    ]


def touch(*rows: Any) -> None:
    now = utcnow()
    for row in rows:
        row.updated_at = now


# ---- what a withdrawal shows --------------------------------------------------------------------

@dataclass(frozen=True)
class WithdrawalPayout:
    """One withdrawal's part of its payout, for the operation, operators and tests.

    ``amount_sats`` is what its recipient receives and ``fee_sats`` its fee share (they add up to
    the withdrawn amount); ``txid`` the transaction paying it (the current version's, then the
    confirmed one's); ``status`` the payout's.
    """

    payout_id: uuid.UUID
    item_status: str
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
    inputs: list[Any]
    psbt: str
    confirmations: int


async def withdrawal_payout(session: AsyncSession, *, operation_id: uuid.UUID) -> WithdrawalPayout | None:
    """The payout of one withdrawal as it stands (None while queued, or with no payout)."""
    item = await item_of(session, operation_id=operation_id)
    if item is None or item.payout_id is None:
        return None
    payout = await get(session, item.payout_id)
    assert payout is not None
    number = payout.confirmed_version if payout.confirmed_version is not None else payout.current_version
    shown = await version(session, payout.id, number)
    assert shown is not None
    count = len(await items_of(session, payout.id))
    return WithdrawalPayout(
        payout_id=payout.id, item_status=item.status, status=payout.status, txid=payout.txid, vout=item.vout,
        recipient_address=item.recipient_address, amount_sats=item.recipient_sats or 0,
        fee_sats=item.fee_share_sats or 0, fee_rate_sat_vb=payout.fee_rate_sat_vb, batch_outputs=count,
        version=number, change_sats=shown.change_sats, inputs=list(shown.inputs), psbt=shown.psbt,
        confirmations=payout.confirmations,
    )
