"""Limit usage held in the transaction that records an operation: concurrent requests of one user
never overshoot the daily limit together."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from db.models import Operation
from db.queries.limits import check_and_hold, get_usage
from domain.limits import LimitedOperation, LimitExceeded, LimitPolicy

DAILY = 5_000_000  # Basic: 0.05 BTC


async def test_twenty_concurrent_requests_never_overshoot_the_daily_limit(sessions, make_user, settings) -> None:
    account = await make_user()
    policy = LimitPolicy.from_settings(settings.kyc)
    amount = 700_000  # 20 × 0.007 BTC = 0.14 BTC > 0.05 BTC daily; at most 7 fit
    outcomes: list[str] = []

    async def request() -> None:
        now = datetime.now(UTC)
        try:
            async with sessions() as session, session.begin():
                await check_and_hold(
                    session, policy=policy, operation=LimitedOperation.DEPOSIT, user_id=account.id,
                    tier=1, amount_sats=amount, now=now,
                )
                session.add(Operation(user_id=account.id, operation_type="deposit", status="pending", amount=amount,
                                      limits_counted_at=now))
            outcomes.append("ok")
        except LimitExceeded as exc:
            assert exc.limit == "daily"
            outcomes.append("refused")

    await asyncio.gather(*(request() for _ in range(20)))
    async with sessions() as session:
        usage = await get_usage(session, user_id=account.id, operation_type="deposit", now=datetime.now(UTC))
    assert outcomes.count("ok") == DAILY // amount == 7
    assert usage.daily_sats == 7 * amount <= DAILY


async def test_failed_operations_release_their_usage(sessions, make_user) -> None:
    account = await make_user()
    now = datetime.now(UTC)
    async with sessions() as session, session.begin():
        for status, amount in (("failed", 4_000_000), ("cancelled", 1_000_000), ("processing", 300)):
            session.add(Operation(user_id=account.id, operation_type="deposit", status=status, amount=amount,
                                  limits_counted_at=now))
    async with sessions() as session:
        usage = await get_usage(session, user_id=account.id, operation_type="deposit", now=datetime.now(UTC))
    assert usage.daily_sats == usage.monthly_sats == 300


async def test_a_deposit_counts_from_its_admission_not_from_its_claim(sessions, make_user) -> None:
    """A claim waiting for confirmations or for the user's KYC uses no limit; an admitted one counts
    from its admission, so deposits queued behind a full window cannot all pass as "old" at once."""
    account = await make_user()
    now = datetime.now(UTC)
    long_ago = now - timedelta(days=2)
    async with sessions() as session, session.begin():
        session.add(Operation(user_id=account.id, operation_type="deposit", status="processing", amount=5_000))
        session.add(Operation(user_id=account.id, operation_type="deposit", status="processing", amount=700,
                              created_at=long_ago, limits_counted_at=now - timedelta(hours=1)))
        session.add(Operation(user_id=account.id, operation_type="withdrawal", status="processing", amount=40,
                              created_at=now - timedelta(hours=2)))
    async with sessions() as session:
        deposits = await get_usage(session, user_id=account.id, operation_type="deposit", now=now)
        withdrawals = await get_usage(session, user_id=account.id, operation_type="withdrawal", now=now)
    assert deposits.daily_sats == deposits.monthly_sats == 700
    assert withdrawals.daily_sats == 40  # withdrawals count from their request
