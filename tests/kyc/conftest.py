"""KYC test helpers: users with a Stellar address, polling, and workflow handles."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from stellar_sdk import Keypair

from db.models import KycRecord, User
from domain.roles import Role
from tests.fixtures.waiting import eventually  # noqa: F401 (the KYC tests import it from here)


@pytest.fixture
def kyc_user(make_user, sessions: async_sessionmaker[AsyncSession]):
    """``await kyc_user(role=Role.USER)`` → an account whose profile has a fresh Stellar address."""

    async def make(role: Role = Role.USER):
        account = await make_user(role)
        address = Keypair.random().public_key
        async with sessions() as session, session.begin():
            await session.execute(update(User).where(User.id == account.id).values(stellar_address=address))
        return account, address

    return make


@pytest.fixture
def record_status(sessions: async_sessionmaker[AsyncSession]):
    async def read(record_id: str | uuid.UUID) -> KycRecord | None:
        async with sessions() as session:
            return await session.get(KycRecord, uuid.UUID(str(record_id)))

    return read


def passport(full_name: str = "Alice Example", number: str = "X12345678", country: str = "DE") -> dict[str, Any]:
    return {"document_type": "passport", "document_number": number, "full_name": full_name, "country": country}
