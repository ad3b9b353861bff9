"""The scripted journey of ``custody demo``, trimmed to smaller amounts, through the whole stack:
the API over HTTP and its WebSocket, the worker, Temporal, Postgres and both sandboxes, on a stack
of its own (``tests/e2e/conftest.py``)."""

from __future__ import annotations

import secrets
import uuid

import pytest

from cli.demo import Journey, JourneyConfig
from cli.users import create_admin

pytestmark = [pytest.mark.slow]


async def test_the_whole_journey_verifies_every_step(journey_stack, journey_api: str) -> None:
    settings, served_api = journey_stack.settings, journey_api
    email, password = f"journey-admin-{uuid.uuid4().hex[:8]}@example.com", secrets.token_urlsafe(16)
    await create_admin(settings, email=email, password=password)
    lines: list[str] = []
    cfg = JourneyConfig(
        api_url=served_api,
        esplora_url=settings.bitcoin.esplora_url,
        stellar_rpc_url=settings.soroban.rpc_url,
        admin_email=email,
        admin_password=password,
        deposit_sats=9_000_000,  # above the test approval threshold (5,000,000) when withdrawn
        withdrawal_sats=6_000_000,
        timeout_seconds=90,
    )
    facts = await Journey(cfg, say=lines.append).run()
    assert len([line for line in lines if ": ok (" in line]) == 12, "\n".join(lines)
    payout = facts["payout"]
    assert payout["amount_sats"] + payout["fee_sats"] == cfg.withdrawal_sats  # the user pays the fee
    proof = facts["proof"]["proof"]
    assert proof["ratio_bps"] >= 10_000
