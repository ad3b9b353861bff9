"""Retry safety under injected faults: resend the same envelope, never double an effect."""

from __future__ import annotations

import os

import pytest
from stellar_sdk import Keypair, scval

from chains.soroban import Contracts, SignedEnvelope, SorobanClient, SorobanUnavailable, topic_filter
from chains.soroban.events import iter_events
from custody_sandbox.soroban import DEFAULT_PASSPHRASE


async def test_fifty_mints_with_try_again_later_and_dropped_responses(
    contracts: Contracts, verified_user: Keypair, faults, client: SorobanClient
) -> None:
    user = verified_user.public_key
    stored: list[SignedEnvelope] = []

    async def store(envelope: SignedEnvelope) -> None:
        stored.append(envelope)

    faults.post("/sandbox/faults", json={"try_again_later_rate": 0.3, "drop_response_rate": 0.3})
    start_ledger = (await client.server.get_latest_ledger()).sequence
    reserves_before = await contracts.reserve.get_total_reserves()
    amounts = [1_000 + i for i in range(50)]
    for amount in amounts:
        result = await contracts.router.execute_bitcoin_deposit(user, amount, os.urandom(32), 0, 6, 1, store=store)
        assert result.tx_hash == stored[-1].tx_hash  # the stored envelope is the one that landed
    faults.post("/sandbox/faults", json={"try_again_later_rate": 0.0, "drop_response_rate": 0.0})

    assert len(stored) == 50  # no rebuilds: every ambiguity was resolved by the hash
    assert await contracts.token.balance(user) == sum(amounts)
    assert await contracts.reserve.get_total_reserves() == reserves_before + sum(amounts)
    deposits = [
        e async for e, _ in iter_events(
            client.server, contract_ids=[contracts.router.address],
            topics=[topic_filter("deposit", scval.to_address(user), "*")], start_ledger=start_ledger, limit=20,
        )
    ]
    assert sorted(e.value[0] for e in deposits) == amounts


async def test_delayed_inclusion_still_completes(contracts: Contracts, verified_user: Keypair, faults) -> None:
    faults.post("/sandbox/faults", json={"inclusion_delay_ledgers": 4})
    result = await contracts.router.execute_bitcoin_deposit(verified_user.public_key, 321, os.urandom(32), 0, 6, 1)
    assert result.ledger > 0
    assert await contracts.token.balance(verified_user.public_key) == 321


async def test_rpc_unavailable_raises_retry_safe_error(contracts: Contracts, faults) -> None:
    faults.post("/sandbox/faults", json={"unavailable": True})
    with pytest.raises(SorobanUnavailable) as info:
        await contracts.router.is_paused()
    assert info.value.retry_safe


async def test_expired_transaction_is_rebuilt_once_dead(
    sandbox, operator: Keypair, addresses, contracts: Contracts, verified_user: Keypair, faults
) -> None:
    short = SorobanClient(
        rpc_url=sandbox.url, network_passphrase=DEFAULT_PASSPHRASE, operator=operator, contracts=addresses,
        tx_timeout_seconds=1, poll_interval_seconds=0.05, max_wait_seconds=20,
    )
    stored: list[SignedEnvelope] = []

    async def store(envelope: SignedEnvelope) -> None:
        stored.append(envelope)
        if len(stored) == 1:
            faults.post("/sandbox/faults", json={"inclusion_delay_ledgers": 10_000})  # first one never lands
        else:
            faults.post("/sandbox/faults", json={"inclusion_delay_ledgers": 0})

    router = Contracts.for_client(short).router
    try:
        result = await router.execute_bitcoin_deposit(verified_user.public_key, 999, os.urandom(32), 0, 6, 1, store=store)
    finally:
        await short.close()
    assert len(stored) == 2 and stored[0].tx_hash != stored[1].tx_hash
    assert result.tx_hash == stored[1].tx_hash
    assert await contracts.token.balance(verified_user.public_key) == 999
    assert (await contracts.router.client.server.get_transaction(stored[0].tx_hash)).status.value == "NOT_FOUND"


class Crash(Exception):
    pass


async def test_resume_sends_the_stored_envelope(client: SorobanClient, contracts: Contracts, verified_user) -> None:
    stored: list[SignedEnvelope] = []

    async def store_then_crash(envelope: SignedEnvelope) -> None:
        stored.append(envelope)
        raise Crash  # the process dies after persisting, before sending

    with pytest.raises(Crash):
        await contracts.router.execute_bitcoin_deposit(
            verified_user.public_key, 4_242, os.urandom(32), 0, 6, 1, store=store_then_crash
        )
    assert await contracts.token.balance(verified_user.public_key) == 0
    result = await client.resume(stored[0].envelope_xdr)
    assert result.tx_hash == stored[0].tx_hash
    again = await client.resume(stored[0].envelope_xdr)  # resuming a finished one just reads it back
    assert again.tx_hash == result.tx_hash
    assert await contracts.token.balance(verified_user.public_key) == 4_242
