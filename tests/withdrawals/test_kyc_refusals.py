"""Issue 14: a withdrawal refused for a reason the user can fix says what to do (and pages nobody):
an expired KYC asks for a new submission, a tier too low names the tier to submit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from db.models import KycRecord, Operation
from tests.withdrawals.conftest import recipient_address

URL = "/api/integration/token-withdrawal"
pytestmark = pytest.mark.usefixtures("custody_worker", "system_unpaused")


async def test_expired_kyc_says_to_submit_again(api_client, holder, sessions) -> None:
    h = await holder([60_000])
    expired_on = datetime.now(UTC) - timedelta(days=2)
    async with sessions() as session, session.begin():
        await session.execute(update(KycRecord).where(KycRecord.user_id == h.account.id).values(expires_at=expired_on))

    r = await api_client.post(URL, headers=h.headers, json={"token_amount": 50_000, "btc_address": recipient_address()})

    assert r.status_code == 403
    body = r.json()
    assert (body["code"], body["kyc"], body["tier"], body["required_tier"]) == ("insufficient_kyc_tier", "kyc_expired", 0, 2)
    assert f"expired on {expired_on.date().isoformat()}" in body["detail"]
    assert "POST /api/kyc/submit" in body["detail"] and "request the withdrawal again" in body["detail"]


async def test_basic_tier_is_told_which_tier_to_submit(api_client, holder) -> None:
    h = await holder([60_000], tier=1)
    r = await api_client.post(URL, headers=h.headers, json={"token_amount": 50_000, "btc_address": recipient_address()})
    assert r.status_code == 403
    assert r.json()["kyc"] == "kyc_tier_too_low"
    assert "tier 2 or higher (POST /api/kyc/submit)" in r.json()["detail"]


async def test_a_full_daily_window_says_how_much_fits_now_and_when_the_rest_does(
    api_client, holder, chain, sessions, settings
) -> None:
    h = await holder([200_000], tier=2)
    daily = settings.kyc.tier_limits[2].daily_sats
    earlier = datetime.now(UTC) - timedelta(hours=20)
    async with sessions() as session, session.begin():  # an earlier withdrawal that used most of the day
        session.add(Operation(user_id=h.account.id, operation_type="withdrawal", status="completed", stage="completed",
                              amount=daily - 40_000, created_at=earlier))
    r = await api_client.post(URL, headers=h.headers, json={"token_amount": 50_000, "btc_address": recipient_address()})
    assert r.status_code == 403 and r.json()["code"] == "limit_exceeded"
    body = r.json()
    assert (body["limit"], body["available_sats"]) == ("daily", 40_000)
    assert datetime.fromisoformat(body["retry_at"]) > datetime.now(UTC) + timedelta(hours=3)
    assert "withdraw up to 40000 sats now, or the full amount from" in body["detail"]
