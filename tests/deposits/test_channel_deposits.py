"""Deposits through the whole stack with the worker's Soroban calls sourced from channel accounts.

The worker leases a channel per mint from Postgres; the operator signs only the authorization
entry. Several deposits mint concurrently, each exactly once, each from a channel, and every
channel ends unbound with its tracked sequence number equal to the network's.
"""

from __future__ import annotations

import asyncio

import httpx
from sqlalchemy import text
from stellar_sdk import Keypair

from chains.soroban.envelopes import load_account_state
from contracts.workflow_ids import mint_submission_key
from db.queries import chain_submissions
from tests.fixtures.stack import isolated_stack

CHANNELS = 3


async def test_concurrent_deposits_mint_once_each_over_channel_accounts(temporal_env, tmp_path_factory) -> None:
    keys = [Keypair.random() for _ in range(CHANNELS)]
    overrides = {"soroban": {"channel_count": CHANNELS, "channel_secrets": [k.secret for k in keys]}}
    async with isolated_stack(temporal_env, tmp_path_factory, overrides=overrides) as stack:
        async with httpx.AsyncClient(base_url=stack.soroban_url) as http:
            for k in keys:
                (await http.get("/friendbot", params={"addr": k.public_key})).raise_for_status()
        await stack.unpause()
        people = [await stack.person(tier=2) for _ in range(2 * CHANNELS)]
        ops = await asyncio.gather(*(stack.deposit(p, 40_000 + i, confirm=False) for i, p in enumerate(people)))
        for op in ops:
            await stack.wait(op.id, stage="awaiting_confirmations")
        await stack.mine(1)
        done = [await stack.wait(op.id, status="completed", timeout=120) for op in ops]

        sources = set()
        for i, (person, op) in enumerate(zip(people, done, strict=True)):
            assert await stack.deps.contracts.token.balance(person.stellar) == 40_000 + i  # minted once
            row = await chain_submissions.get_by_key(stack.sessions, idempotency_key=mint_submission_key(str(op.id)))
            assert row.status == "succeeded" and row.tx_hash == op.stellar_tx_hash
            sources.add(row.source_account)
        assert sources <= {k.public_key for k in keys} and len(sources) > 1  # spread over the pool
        async with stack.sessions() as session:
            channels = (await session.execute(text(
                "SELECT public_key, sequence, submission_key FROM soroban_channels"))).all()
        assert {c[0] for c in channels} == {k.public_key for k in keys}
        for public_key, sequence, bound in channels:
            network_sequence, _ = await load_account_state(stack.deps.soroban.server, public_key)
            assert bound is None and sequence in (None, network_sequence)
