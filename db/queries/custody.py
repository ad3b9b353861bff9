"""The custody UTXO set and watched addresses, by intent (``db/models/custody_utxo.py``).

Every writer runs in the caller's transaction; rows a step changes are locked (``FOR UPDATE``),
and coin selection skips rows other payouts hold (``SKIP LOCKED``), so two payouts never choose
the same output. Amounts are satoshis.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import and_, func, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import CustodyAddress, CustodyUtxo, CustodyUtxoTotal, Payout, PayoutVersion, ScannedBlock
from db.models.base import utcnow

OWNED_STATES = ("seen", "confirmed", "reserved")
#: Payouts whose transaction exists and may still reach the chain (their inputs are spoken for).
LIVE_PAYOUTS = ("awaiting_signature", "signed", "broadcast")
SIGNED_LIVE_PAYOUTS = ("signed", "broadcast")
#: Versions whose signed transaction may reach the chain.
SIGNED_LIVE_VERSIONS = ("signed", "broadcast", "replaced")


# ---- watched addresses ------------------------------------------------------------------------

async def watch_address(session: AsyncSession, *, address: str, branch: int, derivation_index: int,
                        user_id: uuid.UUID | None = None) -> None:
    """Watch ``address`` (idempotent; a later call may set the owner of a look-ahead address)."""
    stmt = insert(CustodyAddress).values(address=address, branch=branch, derivation_index=derivation_index,
                                         user_id=user_id)
    if user_id is not None:
        stmt = stmt.on_conflict_do_update(index_elements=["address"], set_={"user_id": user_id})
    else:
        stmt = stmt.on_conflict_do_nothing()
    await session.execute(stmt)


async def watched(session: AsyncSession, addresses: Iterable[str]) -> dict[str, CustodyAddress]:
    """Which of ``addresses`` belong to the custody wallet."""
    wanted = list(set(addresses))
    if not wanted:
        return {}
    rows = await session.execute(select(CustodyAddress).where(CustodyAddress.address.in_(wanted)))  # type: ignore[attr-defined]
    return {r.address: r for r in rows.scalars()}


async def is_custody_address(session: AsyncSession, address: str) -> bool:
    return await session.get(CustodyAddress, address) is not None


async def highest_index(session: AsyncSession, *, branch: int, owned_only: bool = False) -> int:
    """Highest watched index on ``branch`` (-1 when none); ``owned_only``: handed-out receive
    addresses only (those with an owner)."""
    stmt = select(func.coalesce(func.max(CustodyAddress.derivation_index), -1)).where(CustodyAddress.branch == branch)
    if owned_only:
        stmt = stmt.where(CustodyAddress.user_id.is_not(None))  # type: ignore[union-attr]
    return int((await session.execute(stmt)).scalar_one())


async def all_addresses(session: AsyncSession) -> list[CustodyAddress]:
    return list((await session.execute(select(CustodyAddress).order_by(CustodyAddress.branch,
                                                                       CustodyAddress.derivation_index))).scalars())


# ---- outputs ----------------------------------------------------------------------------------

async def get(session: AsyncSession, outpoint: str, *, for_update: bool = False) -> CustodyUtxo | None:
    stmt = select(CustodyUtxo).where(CustodyUtxo.outpoint == outpoint)
    if for_update:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def get_many(session: AsyncSession, outpoints: Iterable[str], *, for_update: bool = False) -> dict[str, CustodyUtxo]:
    wanted = sorted(set(outpoints))
    if not wanted:
        return {}
    stmt = select(CustodyUtxo).where(CustodyUtxo.outpoint.in_(wanted)).order_by(CustodyUtxo.outpoint)  # type: ignore[attr-defined]
    if for_update:
        stmt = stmt.with_for_update()
    return {r.outpoint: r for r in (await session.execute(stmt)).scalars()}


async def of_operation(session: AsyncSession, operation_id: uuid.UUID, *, for_update: bool = False) -> list[CustodyUtxo]:
    stmt = select(CustodyUtxo).where(CustodyUtxo.operation_id == operation_id).order_by(CustodyUtxo.outpoint)
    if for_update:
        stmt = stmt.with_for_update()
    return list((await session.execute(stmt)).scalars())


async def pending_receipts_of(session: AsyncSession, user_id: uuid.UUID, *, for_update: bool = False) -> list[CustodyUtxo]:
    """Owned outputs booked to the user's pending receipts (not part of any deposit yet)."""
    stmt = select(CustodyUtxo).where(
        CustodyUtxo.held_in == f"pending_receipts:{user_id}", CustodyUtxo.held_in != "istsi_backing",
        CustodyUtxo.state.in_(OWNED_STATES),  # type: ignore[attr-defined]
    ).order_by(CustodyUtxo.created_at, CustodyUtxo.outpoint)
    if for_update:
        stmt = stmt.with_for_update()
    return list((await session.execute(stmt)).scalars())


async def insert_new(session: AsyncSession, values: dict) -> bool:
    """Insert a row unless its outpoint is known; True when this call inserted it."""
    stmt = insert(CustodyUtxo).values(**values).on_conflict_do_nothing(index_elements=["outpoint"]).returning(
        CustodyUtxo.outpoint)
    return (await session.execute(stmt)).scalar_one_or_none() is not None


def new_row(*, outpoint: str, value_sats: int, address: str, state: str, block_height: int | None,
            block_hash: str | None, held_in: str | None, operation_id: uuid.UUID | None,
            seen_at_height: int | None, change_of: uuid.UUID | None = None) -> CustodyUtxo:
    txid, vout = outpoint.rsplit(":", 1)
    return CustodyUtxo(
        outpoint=outpoint, txid=txid, vout=int(vout), value_sats=value_sats, address=address, state=state,
        block_height=block_height, block_hash=block_hash, held_in=held_in, operation_id=operation_id,
        seen_at_height=seen_at_height, change_of=change_of,
    )


async def to_check(session: AsyncSession, *, limit: int) -> list[CustodyUtxo]:
    """Rows whose fate the chain must tell: off a block (seen, vanished), oldest checks first."""
    stmt = select(CustodyUtxo).where(CustodyUtxo.state.in_(("seen", "vanished")), CustodyUtxo.change_of.is_(None)).order_by(  # type: ignore[attr-defined,union-attr]
        CustodyUtxo.verified_at.asc().nulls_first(), CustodyUtxo.outpoint  # type: ignore[union-attr]
    ).limit(limit)
    return list((await session.execute(stmt)).scalars())


async def least_recently_verified(session: AsyncSession, *, limit: int) -> list[CustodyUtxo]:
    """Owned confirmed rows to re-check against the chain source (reconciliation's sample); a
    reserved row off a block (a payout's unconfirmed change that a CPFP child spends) is not one."""
    stmt = select(CustodyUtxo).where(CustodyUtxo.state.in_(("confirmed", "reserved")),  # type: ignore[attr-defined]
                                     CustodyUtxo.block_height.is_not(None)).order_by(  # type: ignore[union-attr]
        CustodyUtxo.verified_at.asc().nulls_first(), CustodyUtxo.outpoint  # type: ignore[union-attr]
    ).limit(limit)
    return list((await session.execute(stmt)).scalars())


async def mark_verified(session: AsyncSession, outpoints: Sequence[str]) -> None:
    if outpoints:
        await session.execute(update(CustodyUtxo).where(CustodyUtxo.outpoint.in_(list(outpoints)))  # type: ignore[attr-defined]
                              .values(verified_at=utcnow()))


async def confirmed_above(session: AsyncSession, height: int) -> list[CustodyUtxo]:
    """Rows confirmed in, or spent in, blocks above ``height`` (what a reorg to ``height`` undoes)."""
    stmt = select(CustodyUtxo).where(or_(CustodyUtxo.block_height > height, CustodyUtxo.spent_height > height)).with_for_update()  # type: ignore[operator]
    return list((await session.execute(stmt)).scalars())


# ---- coin selection ---------------------------------------------------------------------------

async def sync_payout_signed(session: AsyncSession, payout_id: uuid.UUID) -> None:
    """Set ``payout_signed`` on the outputs ``payout_id`` reserved: true while a version at or
    after the one that took the output is signed and may reach the chain (the books then hold
    its amount as a pending credit). Call after any change of the payout's versions."""
    await session.execute(text(
        "UPDATE custody_utxos u SET payout_signed = EXISTS (SELECT 1 FROM payout_versions v "
        "WHERE v.payout_id = u.reserved_by AND v.version >= COALESCE(u.reserved_version, 0) "
        "AND v.status IN ('signed', 'broadcast', 'replaced')) WHERE u.reserved_by = :p"), {"p": payout_id})


async def lock_spendable(session: AsyncSession, *, limit: int = 500) -> list[tuple[CustodyUtxo, int, int]]:
    """The largest spendable outputs with their ``(branch, derivation index)``, locked for this
    transaction; rows another payout is choosing right now are skipped (``SKIP LOCKED``).

    Spendable: confirmed, unreserved, custody's own (``held_in`` is ``istsi_backing`` or
    ``fee_reserve``, or NULL for change) and not under a reorg hold. A receipt not credited yet
    (waiting for KYC or confirmations) stays put, so its own deposit can still find it on chain.
    Largest-first coin selection never needs more than the top ``limit``."""
    stmt = (
        select(CustodyUtxo, CustodyAddress.branch, CustodyAddress.derivation_index)
        .join(CustodyAddress, CustodyAddress.address == CustodyUtxo.address)
        .where(
            CustodyUtxo.state == "confirmed",
            CustodyUtxo.reorg_held.is_(False),  # type: ignore[attr-defined]
            (CustodyUtxo.held_in.is_(None)) | CustodyUtxo.held_in.in_(("istsi_backing", "fee_reserve")),  # type: ignore[union-attr]
        )
        .order_by(CustodyUtxo.value_sats.desc(), CustodyUtxo.outpoint)  # type: ignore[attr-defined]
        .limit(limit)
        .with_for_update(of=CustodyUtxo, skip_locked=True)
    )
    return [(row, int(branch), int(index)) for row, branch, index in (await session.execute(stmt)).all()]


async def reserved_by(session: AsyncSession, payout_id: uuid.UUID) -> list[CustodyUtxo]:
    stmt = select(CustodyUtxo).where(CustodyUtxo.reserved_by == payout_id).with_for_update()
    return list((await session.execute(stmt)).scalars())


async def change_of(session: AsyncSession, payout_id: uuid.UUID) -> list[CustodyUtxo]:
    stmt = select(CustodyUtxo).where(CustodyUtxo.change_of == payout_id).with_for_update()
    return list((await session.execute(stmt)).scalars())


async def payout_txids(session: AsyncSession, payout_ids: Iterable[uuid.UUID | None]) -> dict[uuid.UUID, set[str]]:
    """Every transaction of each payout (all versions: parents and CPFP children), by payout id."""
    wanted = {p for p in payout_ids if p is not None}
    if not wanted:
        return {}
    rows = await session.execute(select(PayoutVersion.payout_id, PayoutVersion.txid).where(
        PayoutVersion.payout_id.in_(wanted)))  # type: ignore[attr-defined]
    found: dict[uuid.UUID, set[str]] = {}
    for payout_id, txid in rows.all():
        found.setdefault(payout_id, set()).add(txid)
    return found


async def live_payout_inputs(session: AsyncSession) -> dict[str, uuid.UUID]:
    """``outpoint -> payout id`` of the inputs of every version of a payout not yet settled."""
    rows = await session.execute(select(PayoutVersion.payout_id, PayoutVersion.inputs).join(
        Payout, Payout.id == PayoutVersion.payout_id).where(Payout.status.in_(LIVE_PAYOUTS)))  # type: ignore[attr-defined]
    return {i["outpoint"]: payout_id for payout_id, inputs in rows.all() for i in inputs}


async def highest_change_index(session: AsyncSession) -> int:
    """The highest internal-chain index any payout version used (-1 when none)."""
    stmt = select(func.coalesce(func.max(PayoutVersion.change_index), -1))
    return int((await session.execute(stmt)).scalar_one())


async def unconfirmed_payout_funds(session: AsyncSession) -> int:
    """Change still unconfirmed from live payouts: funds that will come back (satoshis)."""
    stmt = select(func.coalesce(func.sum(CustodyUtxo.value_sats), 0)).where(
        CustodyUtxo.change_of.is_not(None), CustodyUtxo.state == "seen"  # type: ignore[union-attr]
    )
    return int((await session.execute(stmt)).scalar_one())


# ---- totals (the guard, reconciliation, proofs) -----------------------------------------------

@dataclass(frozen=True)
class SetTotals:
    """Sums over the UTXO set, satoshis.

    ``confirmed``: confirmed and reserved outputs (on chain, unspent, ours). ``available``: what
    the books' ``custody_btc`` must equal net of pending payouts: owned outputs minus those
    reserved by a signed payout version (the one that took it, or a later one), and minus
    credited deposits off their block (held after a reorg). ``live_change``: unconfirmed change
    of live payouts (of their current versions: replaced versions' change is ``superseded``).
    """

    confirmed: int
    confirmed_count: int
    seen: int
    reserved_signed: int
    live_change: int
    available: int


async def totals(session: AsyncSession, *, at_height: int | None = None) -> SetTotals:
    """The set's totals from ``custody_utxo_totals`` (one small read, whatever the size of the
    set); ``at_height``: only outputs confirmed at or below that height count as confirmed, and
    outputs spent above it still do (a proof pinned there), one aggregate over the set."""
    if at_height is not None:
        return await _totals_at(session, at_height)
    rows = dict((b, (int(v), int(n))) for b, v, n in (await session.execute(
        select(CustodyUtxoTotal.bucket, CustodyUtxoTotal.value_sats, CustodyUtxoTotal.outputs))).all())

    def v(*buckets: str) -> int:
        return sum(rows.get(b, (0, 0))[0] for b in buckets)

    confirmed = ("confirmed", "reserved", "reserved:signed")  # on a block ("*:offblock": a CPFP child's input)
    return SetTotals(
        confirmed=v(*confirmed), confirmed_count=sum(rows.get(b, (0, 0))[1] for b in confirmed),
        seen=v("seen", "seen:change"), reserved_signed=v("reserved:signed", "reserved:signed:offblock"),
        live_change=v("seen:change"),
        available=v("seen", "seen:change", "confirmed", "reserved", "reserved:offblock"),
    )  # "*:held" rows (credits on hold after a reorg) are custody's to count again only when they return;
    # "superseded" (a replaced version's change) never is


async def _totals_at(session: AsyncSession, at_height: int) -> SetTotals:
    on_chain = and_(CustodyUtxo.block_height <= at_height, ~CustodyUtxo.reorg_held,  # type: ignore[operator]
                    or_(CustodyUtxo.state.in_(("confirmed", "reserved")),  # type: ignore[attr-defined]
                        and_(CustodyUtxo.state == "spent", CustodyUtxo.spent_height > at_height)))  # type: ignore[operator]
    row = (await session.execute(select(
        func.coalesce(func.sum(CustodyUtxo.value_sats).filter(on_chain), 0), func.count().filter(on_chain)))).one()
    confirmed, count = int(row[0]), int(row[1])
    return SetTotals(confirmed=confirmed, confirmed_count=count, seen=0, reserved_signed=0, live_change=0,
                     available=confirmed)


# ---- scanned blocks ---------------------------------------------------------------------------

async def tip(session: AsyncSession) -> ScannedBlock | None:
    """The highest block the scanner applied (its cursor), or None before the first scan."""
    return (await session.execute(select(ScannedBlock).order_by(ScannedBlock.height.desc()).limit(1))).scalar_one_or_none()  # type: ignore[attr-defined]


async def scanned(session: AsyncSession, heights: Sequence[int]) -> dict[int, str]:
    rows = await session.execute(select(ScannedBlock.height, ScannedBlock.block_hash).where(ScannedBlock.height.in_(list(heights))))  # type: ignore[attr-defined]
    return {h: b for h, b in rows.all()}


async def record_block(session: AsyncSession, *, height: int, block_hash: str, keep: int) -> None:
    """Advance the cursor to ``height`` and forget blocks older than ``keep`` below it."""
    await session.execute(insert(ScannedBlock).values(height=height, block_hash=block_hash).on_conflict_do_update(
        index_elements=["height"], set_={"block_hash": block_hash, "scanned_at": utcnow()}))
    await session.execute(text("DELETE FROM scanned_blocks WHERE height < :h"), {"h": height - keep})


async def forget_blocks_above(session: AsyncSession, height: int) -> None:
    await session.execute(text("DELETE FROM scanned_blocks WHERE height > :h"), {"h": height})
