"""Lease rules of the channel pool, against real Postgres (no chain needed).

A channel is free only when nothing is bound to it and its lease is absent or expired; a bound
channel stays taken until its envelope is released by hash, even after its lease ran out (it
is then listed as stuck); two pools (two workers) never lease the same channel.
"""

from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlalchemy import text
from stellar_sdk import Keypair

from activities.channel_pool import PgChannelPool, store_envelope
from chains.soroban.channels import Resolution
from chains.soroban.envelopes import SignedEnvelope
from chains.soroban.errors import ChannelLeaseLost
from db.queries import chain_submissions
from tests.fixtures.postgres import sessions_for


async def new_pool(sessions, n: int, **kwargs) -> PgChannelPool:
    pool = PgChannelPool(sessions, [Keypair.random() for _ in range(n)], **kwargs)
    await pool.register()
    return pool


def envelope_on(lease, *, tx_hash: str | None = None, sequence: int = 101) -> SignedEnvelope:
    return SignedEnvelope(
        tx_hash=tx_hash or uuid.uuid4().hex * 2, envelope_xdr="AAAA", sequence=sequence, max_time=1_000,
        source_account=lease.public_key, lease_token=lease.token, auth_expiration_ledger=50,
    )


async def channel_row(sessions, public_key: str) -> dict:
    async with sessions() as session:
        row = (await session.execute(
            text("SELECT * FROM soroban_channels WHERE public_key = :pk"), {"pk": public_key}
        )).mappings().one()
    return dict(row)


async def expire_lease(sessions, public_key: str) -> None:
    async with sessions() as session, session.begin():
        await session.execute(
            text("UPDATE soroban_channels SET leased_until = now() - interval '1 second' WHERE public_key = :pk"),
            {"pk": public_key},
        )


async def test_each_channel_is_leased_once_until_released(lease_sessions) -> None:
    pool = await new_pool(lease_sessions, 3)
    leases = [await pool.acquire() for _ in range(3)]
    assert sorted(lease.public_key for lease in leases) == pool.public_keys
    assert await pool.acquire() is None  # all three leased
    await pool.release(leases[0].public_key, resolution=Resolution.UNUSED, sequence=None, tx_hash=None,
                       token=leases[0].token)
    again = await pool.acquire()
    assert again is not None and again.public_key == leases[0].public_key


async def test_an_expired_unbound_lease_is_free_again(lease_sessions) -> None:
    pool = await new_pool(lease_sessions, 1)
    first = await pool.acquire()
    assert await pool.acquire() is None
    await expire_lease(lease_sessions, first.public_key)
    second = await pool.acquire()
    assert second is not None and second.token != first.token
    # The first holder's late release must not free the second holder's lease.
    await pool.release(first.public_key, resolution=Resolution.UNUSED, sequence=None, tx_hash=None, token=first.token)
    assert (await channel_row(lease_sessions, first.public_key))["lease_owner"] == second.token


async def test_a_bound_channel_stays_taken_after_its_lease_until_resolved_by_hash(lease_sessions) -> None:
    pool = await new_pool(lease_sessions, 1)
    lease = await pool.acquire()
    signed = envelope_on(lease, sequence=101)
    await store_envelope(lease_sessions, key=f"k-{uuid.uuid4()}", contract="kyc_registry", function="f", signed=signed)
    # An unbound-style release (by token) cannot free a bound channel.
    await pool.release(lease.public_key, resolution=Resolution.UNUSED, sequence=None, tx_hash=None, token=lease.token)
    await expire_lease(lease_sessions, lease.public_key)
    assert await pool.acquire() is None
    stuck = await pool.stuck()
    assert [(s.public_key, s.tx_hash, s.envelope_sequence, s.max_time, s.auth_expiration_ledger) for s in stuck] == [
        (lease.public_key, signed.tx_hash, 101, 1_000, 50)
    ]
    await pool.release(lease.public_key, resolution=Resolution.APPLIED, sequence=101, tx_hash="ff" * 32)  # wrong hash
    assert await pool.acquire() is None
    await pool.release(lease.public_key, resolution=Resolution.APPLIED, sequence=101, tx_hash=signed.tx_hash)
    row = await channel_row(lease_sessions, lease.public_key)
    assert row["sequence"] == 101 and row["submission_key"] is None and row["tx_hash"] is None
    assert (await pool.acquire()).public_key == lease.public_key  # free again


@pytest.mark.parametrize(
    ("resolution", "expected"), [(Resolution.APPLIED, 8), (Resolution.DEAD, 7), (Resolution.BAD_SEQ, None)]
)
async def test_release_moves_the_tracked_sequence_as_the_resolution_says(lease_sessions, resolution, expected) -> None:
    pool = await new_pool(lease_sessions, 1, balance_check_seconds=3600)
    await pool.record_balance(pool.public_keys[0], 100_000_000, sequence=7)
    lease = await pool.acquire()
    assert lease.sequence == 7
    signed = envelope_on(lease, sequence=8)
    await store_envelope(lease_sessions, key=f"k-{uuid.uuid4()}", contract="c", function="f", signed=signed)
    await pool.release(lease.public_key, resolution=resolution, sequence=8, tx_hash=signed.tx_hash)
    assert (await channel_row(lease_sessions, lease.public_key))["sequence"] == expected


async def test_a_due_balance_check_asks_for_a_reload(lease_sessions) -> None:
    pool = await new_pool(lease_sessions, 1, balance_check_seconds=3600)
    assert (await pool.acquire()).sequence is None  # never checked: load from the network
    await pool.release(pool.public_keys[0], resolution=Resolution.UNUSED, sequence=None, tx_hash=None,
                       token=(await channel_row(lease_sessions, pool.public_keys[0]))["lease_owner"])
    await pool.record_balance(pool.public_keys[0], 100_000_000, sequence=41)
    assert (await pool.acquire()).sequence == 41


async def test_a_lost_lease_stores_nothing(lease_sessions) -> None:
    pool = await new_pool(lease_sessions, 1)
    lease = await pool.acquire()
    await expire_lease(lease_sessions, lease.public_key)
    thief = await pool.acquire()
    assert thief is not None
    key = f"k-{uuid.uuid4()}"
    with pytest.raises(ChannelLeaseLost):
        await store_envelope(lease_sessions, key=key, contract="c", function="f", signed=envelope_on(lease))
    assert await chain_submissions.get_by_key(lease_sessions, idempotency_key=key) is None
    assert (await channel_row(lease_sessions, lease.public_key))["submission_key"] is None


async def test_two_workers_never_lease_the_same_channel(lease_db: str) -> None:
    keys = [Keypair.random() for _ in range(5)]
    async with sessions_for(lease_db) as first, sessions_for(lease_db) as second:  # one engine per worker
        pools = [PgChannelPool(first, keys), PgChannelPool(second, keys)]
        await pools[0].register()
        await pools[1].register()
        got = await asyncio.gather(*(pools[i % 2].acquire() for i in range(20)))
        leased = [g.public_key for g in got if g is not None]
        assert sorted(leased) == sorted(k.public_key for k in keys)  # each exactly once


async def test_a_low_balance_raises_the_alert(lease_sessions, caplog) -> None:
    pool = await new_pool(lease_sessions, 1, min_balance_stroops=50_000_000)
    with caplog.at_level("ERROR", logger="custody.alerts"):
        await pool.record_balance(pool.public_keys[0], 60_000_000)
        assert not [r for r in caplog.records if getattr(r, "alert", None) == "soroban_channel_low_balance"]
        await pool.record_balance(pool.public_keys[0], 49_999_999)
    alerts = [r for r in caplog.records if getattr(r, "alert", None) == "soroban_channel_low_balance"]
    assert len(alerts) == 1 and alerts[0].channel == pool.public_keys[0]
    assert (await channel_row(lease_sessions, pool.public_keys[0]))["balance_stroops"] == 49_999_999
