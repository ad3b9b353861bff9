"""Deposit-address assignment: each user gets exactly one address, race-free.

The index comes from the Postgres sequence ``deposit_address_index_seq``; the row is written with
``INSERT ... ON CONFLICT (user_id) DO NOTHING`` and read back, so concurrent requests for one user
all return the row that won. A request that loses the race burns one index (a gap on the receive
chain, well inside a wallet's gap limit).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from db.models.deposit_address import DERIVATION_INDEX_SEQUENCE, DepositAddress
from db.queries.custody import watch_address


async def get_by_user(session: AsyncSession, *, user_id: uuid.UUID) -> DepositAddress | None:
    """The user's deposit address, or None when none was assigned yet."""
    return (await session.execute(select(DepositAddress).where(DepositAddress.user_id == user_id))).scalar_one_or_none()


async def get_by_address(session: AsyncSession, *, address: str) -> DepositAddress | None:
    """The row of a deposit address (who owns it), or None."""
    return (await session.execute(select(DepositAddress).where(DepositAddress.address == address))).scalar_one_or_none()


async def list_derivation_indexes(session: AsyncSession) -> list[int]:
    """Every assigned receive-chain index, ascending (for UTXO scans)."""
    return list((await session.execute(select(DepositAddress.derivation_index).order_by(DepositAddress.derivation_index))).scalars())


async def assign_deposit_address(
    session: AsyncSession, *, user_id: uuid.UUID, derive_address: Callable[[int], str]
) -> DepositAddress:
    """Return the user's deposit address, assigning the next receive index on first call.

    Runs in the caller's transaction (commit afterwards). ``derive_address`` maps a derivation
    index to the address, e.g. ``CustodyWallet.receive_address``. The address is added to the
    custody watch list (``custody_addresses``) with its owner in the same transaction.

    Raises:
        sqlalchemy IntegrityError: ``user_id`` is not a user.
    """
    existing = await get_by_user(session, user_id=user_id)
    if existing is not None:
        return existing
    index = (await session.execute(select(DERIVATION_INDEX_SEQUENCE.next_value()))).scalar_one()
    statement = (
        insert(DepositAddress)
        .values(id=uuid.uuid4(), user_id=user_id, derivation_index=index, address=derive_address(index))
        .on_conflict_do_nothing(index_elements=["user_id"])
    )
    await session.execute(statement)
    row = await get_by_user(session, user_id=user_id)  # ours, or the concurrent request's that won
    if row is None:
        raise RuntimeError(f"deposit address of user {user_id} neither inserted nor found")
    # The block scanner books what reaches it from now on as this user's.
    await watch_address(session, address=row.address, branch=0, derivation_index=row.derivation_index,
                        user_id=user_id)
    return row
