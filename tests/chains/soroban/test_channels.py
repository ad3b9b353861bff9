"""Channel accounts against the real Stellar RPC sandbox and Postgres.

Each transaction's source is a leased channel; the operator only signs its authorization entry
(address credentials, verified by the sandbox as by the network). Exactly once holds through
crashes: an envelope stored but never sent, or sent but never recorded, is resolved by its
hash before its channel is used again, and no deposit is minted twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from stellar_sdk import Keypair, SorobanServerAsync, TransactionBuilder, TransactionEnvelope, scval, xdr
from stellar_sdk.auth import authorize_entry
from stellar_sdk.soroban_rpc import GetTransactionStatus

from activities.chain_submissions import ChainSubmitter
from activities.channel_pool import PgChannelPool
from chains.soroban import Contracts, SorobanClient
from chains.soroban.channels import ChannelLease
from chains.soroban.envelopes import load_account_state
from chains.soroban.errors import ChannelsBusy, TransactionPending
from custody_sandbox.soroban import (
    CONTRACT_ADDRESSES,
    DEFAULT_PASSPHRASE,
    OPERATOR_SECRET_FILE,
    SandboxServer,
    create_app,
)
from db.queries import chain_submissions
from tests.fixtures.postgres import sessions_for
from tests.fixtures.waiting import eventually

from .conftest import FAR_FUTURE, LEDGER_INTERVAL_SECONDS

PACED_LEDGER_SECONDS = 1.0


class Crash(BaseException):
    """Stands in for the worker dying at a chosen point (not an Exception: nothing handles it)."""


def funded(url: str, n: int) -> list[Keypair]:
    import httpx

    keys = [Keypair.random() for _ in range(n)]
    for k in keys:
        httpx.get(f"{url}/friendbot", params={"addr": k.public_key}).raise_for_status()
    return keys


async def make_pool(sessions, keys: list[Keypair], **kwargs) -> PgChannelPool:
    pool = PgChannelPool(sessions, keys, **kwargs)
    await pool.register()
    return pool


def channel_client(url: str, operator: Keypair, addresses, pool, *, ledger_seconds: float = LEDGER_INTERVAL_SECONDS,
                   **kwargs) -> SorobanClient:
    options = dict(tx_timeout_seconds=30, poll_interval_seconds=0.02, max_wait_seconds=30, channel_wait_seconds=20)
    options.update(kwargs)
    return SorobanClient(
        rpc_url=url, network_passphrase=DEFAULT_PASSPHRASE, operator=operator, contracts=addresses,
        channels=pool, ledger_seconds=ledger_seconds, **options,
    )


@contextlib.asynccontextmanager
async def two_workers(
    url: str, operator: Keypair, addresses, sessions, keys: list[Keypair], *, first_options: dict | None = None,
    **options,
) -> AsyncIterator[tuple[SorobanClient, SorobanClient]]:
    """The clients of two workers, each with a pool of its own over the same channel accounts
    ``keys``: ``options`` go to both, ``first_options`` to the first one only. Closed on exit."""
    first_pool, second_pool = await make_pool(sessions, keys), await make_pool(sessions, keys)
    first = channel_client(url, operator, addresses, first_pool, **{**options, **(first_options or {})})
    second = channel_client(url, operator, addresses, second_pool, **options)
    try:
        yield first, second
    finally:
        await first.close()
        await second.close()


async def channel_rows(sessions, keys: list[Keypair]) -> dict[str, dict]:
    async with sessions() as session:
        rows = (await session.execute(
            text("SELECT * FROM soroban_channels WHERE public_key = ANY(:keys)"), {"keys": [k.public_key for k in keys]}
        )).mappings().all()
    return {r["public_key"]: dict(r) for r in rows}


async def expire_leases(sessions, keys: list[Keypair]) -> None:
    async with sessions() as session, session.begin():
        await session.execute(
            text("UPDATE soroban_channels SET leased_until = now() - interval '1 second' WHERE public_key = ANY(:k)"),
            {"k": [k.public_key for k in keys]},
        )


async def assert_sequences_match_network(client: SorobanClient, sessions, keys: list[Keypair]) -> None:
    rows = await channel_rows(sessions, keys)
    for k in keys:
        network_sequence, _ = await load_account_state(client.server, k.public_key)
        assert rows[k.public_key]["submission_key"] is None, "channel left bound"
        assert rows[k.public_key]["sequence"] in (None, network_sequence), "tracked sequence drifted"


def mint(contracts: Contracts, user: str, amount: int, txid: bytes, store_wrapper=None):
    def invoke(store):
        return contracts.router.execute_bitcoin_deposit(
            user, amount, txid, 0, 6, 800_000, store=store_wrapper(store) if store_wrapper else store
        )

    return invoke


async def submit_mint(sessions, client: SorobanClient, key: str, user: str, amount: int, txid: bytes,
                      store_wrapper=None) -> dict:
    """Submit once, under ``key``, through ``client``: the mint of ``amount`` to ``user`` for ``txid``."""
    return await ChainSubmitter(sessions, client).submit_once(
        key, contract="integration_router", function="execute_bitcoin_deposit",
        invoke=mint(Contracts.for_client(client), user, amount, txid, store_wrapper),
    )


def crash_after(store):
    async def wrapped(signed):
        await store(signed)
        raise Crash("worker died after storing the envelope")

    return wrapped


# ---- a channel carries the call; the operator signs only its entry --------------------------
async def test_a_channel_sources_the_call_and_the_operator_signs_its_auth_entry(
    sandbox, operator, addresses, lease_sessions
) -> None:
    keys = funded(sandbox.url, 1)
    pool = await make_pool(lease_sessions, keys)
    client = channel_client(sandbox.url, operator, addresses, pool)
    try:
        customer = Keypair.random().public_key
        result = await Contracts.for_client(client).kyc.register_customer(customer, 2, "CH", FAR_FUTURE)
        envelope = TransactionEnvelope.from_xdr(result.envelope_xdr, DEFAULT_PASSPHRASE)
        assert envelope.transaction.source.account_id == keys[0].public_key
        assert len(envelope.signatures) == 1  # the channel's; the operator signed the entry
        (entry,) = envelope.transaction.operations[0].auth
        assert entry.credentials.type in (
            xdr.SorobanCredentialsType.SOROBAN_CREDENTIALS_ADDRESS,
            xdr.SorobanCredentialsType.SOROBAN_CREDENTIALS_ADDRESS_V2,
        )
        inner = entry.credentials.address or entry.credentials.address_v2
        assert scval.from_address(scval.to_address(operator.public_key)).address == operator.public_key
        assert inner.address.account_id.account_id.ed25519.uint256 == operator.raw_public_key()
        assert (await Contracts.for_client(client).kyc.get_tier(customer)) == 2
        await assert_sequences_match_network(client, lease_sessions, keys)
    finally:
        await client.close()


async def test_a_forged_operator_entry_is_refused_in_simulation_and_on_chain(sandbox, operator, addresses) -> None:
    (channel,) = funded(sandbox.url, 1)
    stranger = Keypair.random()
    server = SorobanServerAsync(sandbox.url)
    try:
        account = await server.load_account(channel.public_key)
        args = [scval.to_address(operator.public_key), scval.to_address(Keypair.random().public_key),
                scval.to_uint32(2), scval.to_string("CH"), scval.to_uint64(FAR_FUTURE)]
        tx = (TransactionBuilder(account, DEFAULT_PASSPHRASE, base_fee=100)
              .append_invoke_contract_function_op(addresses.kyc_registry, "register_customer", args)
              .set_timeout(30).build())
        recorded = await server.simulate_transaction(tx)
        assert recorded.error is None
        entry = xdr.SorobanAuthorizationEntry.from_xdr(recorded.results[0].auth[0])
        forged = authorize_entry(entry, stranger, recorded.latest_ledger + 100, DEFAULT_PASSPHRASE)
        tx.transaction.operations[0].auth = [forged]
        assert "Auth" in ((await server.simulate_transaction(tx)).error or "")
        prepared = await server.prepare_transaction(tx, simulate_transaction_response=recorded)
        prepared.sign(channel)
        assert (await server.send_transaction(prepared)).status.value == "PENDING"
        got = await server.poll_transaction(prepared.hash_hex(), max_attempts=100)
        assert got.status == GetTransactionStatus.FAILED
    finally:
        await server.close()


# ---- the sandbox enforces the network's pace and its one-queued-transaction rule ------------
@pytest.fixture(scope="module")
def paced_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxServer]:
    app = create_app(tmp_path_factory.mktemp("paced"), ledger_interval_seconds=PACED_LEDGER_SECONDS, seed=7)
    with SandboxServer(app) as server:
        yield server


@pytest.fixture(scope="module")
def paced_operator(paced_sandbox: SandboxServer) -> Keypair:
    return Keypair.from_secret((Path(paced_sandbox.state.state_dir) / OPERATOR_SECRET_FILE).read_text().strip())


async def test_the_sandbox_closes_ledgers_at_its_interval(paced_sandbox) -> None:
    async def latest() -> int:
        # A connection of its own each time: an idle keep-alive connection may be closed by the
        # server (uvicorn's 5 s keep-alive) just as the SDK reuses it after the sleep.
        server = SorobanServerAsync(paced_sandbox.url)
        try:
            return (await server.get_latest_ledger()).sequence
        finally:
            await server.close()

    first = await latest()
    await asyncio.sleep(5 * PACED_LEDGER_SECONDS)  # the point of the test: let five intervals pass, then count
    closed = await latest() - first
    # Never faster than the interval (6 at most: one boundary each side); a close slowed by a
    # loaded machine is skipped, never made up in a burst, so one fewer is allowed.
    assert 3 <= closed <= 6


async def test_the_ledger_interval_can_change_while_serving(paced_sandbox) -> None:
    import httpx

    server = SorobanServerAsync(paced_sandbox.url)
    try:
        with httpx.Client(base_url=paced_sandbox.url) as http:
            assert http.post("/sandbox/ledger-interval", json={"seconds": 0.2}).json() == {"seconds": 0.2}
            try:
                first, started = (await server.get_latest_ledger()).sequence, time.monotonic()
                await asyncio.sleep(2.0)  # the point of the test: let time pass at the new pace, then count
                closed = (await server.get_latest_ledger()).sequence - first
                elapsed = time.monotonic() - started
                # Never faster than 0.2 s; a close slowed by a loaded machine is skipped, so the
                # floor only proves the new pace (the old one closes at most 3 in this time).
                assert 5 <= closed <= elapsed / 0.2 + 1
            finally:
                http.post("/sandbox/ledger-interval", json={"seconds": PACED_LEDGER_SECONDS})
            assert http.post("/sandbox/ledger-interval", json={"seconds": 0}).status_code == 422
    finally:
        await server.close()


async def test_a_second_queued_transaction_from_one_source_gets_try_again_later(
    paced_sandbox, paced_operator, addresses
) -> None:
    (channel,) = funded(paced_sandbox.url, 1)
    client = channel_client(paced_sandbox.url, paced_operator, addresses, None, ledger_seconds=PACED_LEDGER_SECONDS)
    try:
        sequence, _ = await load_account_state(client.server, channel.public_key)
        envelopes = []
        for offset in range(2):
            lease = ChannelLease(keypair=channel, sequence=sequence + offset, token="t")
            args = [scval.to_address(paced_operator.public_key), scval.to_address(Keypair.random().public_key),
                    scval.to_uint32(1), scval.to_string("CH"), scval.to_uint64(FAR_FUTURE)]
            envelopes.append(await client._prepare(addresses.kyc_registry, "register_customer", args, [], lease))
        assert (await client.server.send_transaction(envelopes[0])).status.value == "PENDING"
        assert (await client.server.send_transaction(envelopes[1])).status.value == "TRY_AGAIN_LATER"
        await client.server.poll_transaction(envelopes[0].hash_hex(), max_attempts=50)
        assert (await client.server.send_transaction(envelopes[1])).status.value == "PENDING"  # its turn now
    finally:
        await client.close()


@pytest.mark.parametrize(("channels", "calls", "max_ledgers"), [(1, 3, None), (4, 8, 3)])
async def test_n_submissions_land_in_about_n_over_channels_ledgers(
    paced_sandbox, paced_operator, addresses, lease_sessions, channels, calls, max_ledgers
) -> None:
    keys = funded(paced_sandbox.url, channels)
    pool = await make_pool(lease_sessions, keys)
    client = channel_client(paced_sandbox.url, paced_operator, addresses, pool, ledger_seconds=PACED_LEDGER_SECONDS)
    submitter = ChainSubmitter(lease_sessions, client)
    kyc = Contracts.for_client(client).kyc
    try:
        async def register(i: int) -> dict:
            customer = Keypair.random().public_key
            return await submitter.submit_once(
                f"pace-{uuid.uuid4()}", contract="kyc_registry", function="register_customer",
                invoke=lambda store: kyc.register_customer(customer, 1, "CH", FAR_FUTURE, store=store),
            )

        records = await asyncio.gather(*(register(i) for i in range(calls)))
        ledgers = sorted({r["ledger"] for r in records})
        if max_ledgers is None:  # one channel: one transaction per ledger, like one operator account
            assert len(ledgers) == calls
        else:
            assert ledgers[-1] - ledgers[0] + 1 <= max_ledgers, ledgers
        await assert_sequences_match_network(client, lease_sessions, keys)
    finally:
        await client.close()


# ---- crashes: resolved by hash before reuse, never minted twice ------------------------------
async def test_a_crash_between_store_and_send_resends_the_stored_envelope_once(
    sandbox, operator, addresses, lease_sessions, verified_user
) -> None:
    keys = funded(sandbox.url, 1)
    user, txid, key = verified_user.public_key, os.urandom(32), f"mint-{uuid.uuid4()}"
    async with two_workers(sandbox.url, operator, addresses, lease_sessions, keys) as (first, second):
        with pytest.raises(Crash):
            await submit_mint(lease_sessions, first, key, user, 40_000, txid, crash_after)
        row = await chain_submissions.get_by_key(lease_sessions, idempotency_key=key)
        assert row.status == "signed" and row.source_account == keys[0].public_key
        assert (await channel_rows(lease_sessions, keys))[keys[0].public_key]["tx_hash"] == row.tx_hash  # bound
        assert (await first.server.get_transaction(row.tx_hash)).status == GetTransactionStatus.NOT_FOUND
        assert await Contracts.for_client(first).token.balance(user) == 0

        record = await submit_mint(lease_sessions, second, key, user, 40_000, txid)  # another worker retries
        assert record["tx_hash"] == row.tx_hash  # the stored bytes, not a new transaction
        again = await submit_mint(lease_sessions, second, key, user, 40_000, txid)
        assert again == record
        assert await Contracts.for_client(second).token.balance(user) == 40_000
        await assert_sequences_match_network(second, lease_sessions, keys)


async def test_a_crash_after_send_is_resolved_by_hash_before_the_channel_is_reused(
    sandbox, operator, addresses, lease_sessions, verified_user, faults
) -> None:
    keys = funded(sandbox.url, 1)
    user, key = verified_user.public_key, f"mint-{uuid.uuid4()}"
    # max_wait 0: the envelope is sent, then the worker "dies" before it learns the outcome.
    async with two_workers(sandbox.url, operator, addresses, lease_sessions, keys,
                           first_options={"max_wait_seconds": 0}) as (first, second):
        faults.post("/sandbox/faults", json={"inclusion_delay_ledgers": 10})  # queued, not yet included
        with pytest.raises(TransactionPending):
            await submit_mint(lease_sessions, first, key, user, 30_000, os.urandom(32))
        faults.post("/sandbox/faults", json={"inclusion_delay_ledgers": 0})
        row = await chain_submissions.get_by_key(lease_sessions, idempotency_key=key)
        assert (await second.server.poll_transaction(row.tx_hash, max_attempts=100)).status.value == "SUCCESS"
        assert (await channel_rows(lease_sessions, keys))[keys[0].public_key]["tx_hash"] == row.tx_hash  # still bound
        await expire_leases(lease_sessions, keys)

        # Another deposit needs the only channel: the stuck envelope is looked up first, so the
        # tracked sequence moves past it and the new transaction is not refused txBAD_SEQ.
        other = await submit_mint(lease_sessions, second, f"mint-{uuid.uuid4()}", user, 20_000, os.urandom(32))
        other_env = TransactionEnvelope.from_xdr(
            (await chain_submissions.get_by_key(lease_sessions, idempotency_key=other and key)).envelope_xdr,
            DEFAULT_PASSPHRASE,
        )
        assert other_env.transaction.source.account_id == keys[0].public_key
        record = await submit_mint(lease_sessions, second, key, user, 30_000, os.urandom(32))
        assert record["tx_hash"] == row.tx_hash  # recorded from the chain, nothing rebuilt
        assert await Contracts.for_client(second).token.balance(user) == 50_000
        await assert_sequences_match_network(second, lease_sessions, keys)


async def test_a_never_sent_envelope_frees_its_channel_only_once_provably_dead(
    sandbox, operator, addresses, lease_sessions, verified_user
) -> None:
    keys = funded(sandbox.url, 1)
    user, txid, key = verified_user.public_key, os.urandom(32), f"mint-{uuid.uuid4()}"
    short = dict(tx_timeout_seconds=5, channel_wait_seconds=1)
    async with two_workers(sandbox.url, operator, addresses, lease_sessions, keys, **short) as (first, second):
        with pytest.raises(Crash):
            await submit_mint(lease_sessions, first, key, user, 11_000, txid, crash_after)
        dead = await chain_submissions.get_by_key(lease_sessions, idempotency_key=key)
        await expire_leases(lease_sessions, keys)
        other_key = f"mint-{uuid.uuid4()}"
        with pytest.raises(ChannelsBusy):  # still includable: the channel is not reused
            await submit_mint(lease_sessions, second, other_key, user, 22_000, os.urandom(32))
        async def provably_dead() -> bool:  # past the time bound and past the auth entries' expiration ledger
            latest = await second.server.get_latest_ledger()
            return int(latest.close_time) > dead.max_time and latest.sequence > dead_auth_expiry(dead.envelope_xdr)

        await eventually(provably_dead, timeout=30, interval=0.2, what="the dead envelope's time bound and auth expiry")
        second._leasing._next_stuck_check = 0  # look again at once
        await submit_mint(lease_sessions, second, other_key, user, 22_000, os.urandom(32))
        reused = await chain_submissions.get_by_key(lease_sessions, idempotency_key=other_key)
        assert reused.sequence == dead.sequence  # the dead envelope never consumed its sequence
        record = await submit_mint(lease_sessions, second, key, user, 11_000, txid)  # the crashed deposit, retried
        assert record["tx_hash"] != dead.tx_hash  # rebuilt only after the old one was provably dead
        assert await Contracts.for_client(second).token.balance(user) == 33_000
        await assert_sequences_match_network(second, lease_sessions, keys)


def dead_auth_expiry(envelope_xdr: str) -> int:
    from chains.soroban.envelopes import auth_expiration_of

    return auth_expiration_of(TransactionEnvelope.from_xdr(envelope_xdr, DEFAULT_PASSPHRASE))


async def test_two_workers_share_the_pool_without_clashing(
    sandbox, operator, addresses, lease_db, verified_user
) -> None:
    keys = funded(sandbox.url, 3)
    async with sessions_for(lease_db) as first, sessions_for(lease_db) as second:  # one engine per worker
        sessions = [first, second]
        clients = [channel_client(sandbox.url, operator, addresses, await make_pool(s, keys)) for s in sessions]
        user = verified_user.public_key
        try:
            async def deposit(i: int) -> dict:
                c = clients[i % 2]
                return await ChainSubmitter(sessions[i % 2], c).submit_once(
                    f"mint-{uuid.uuid4()}", contract="integration_router", function="execute_bitcoin_deposit",
                    invoke=mint(Contracts.for_client(c), user, 1_000 + i, os.urandom(32)),
                )

            records = await asyncio.gather(*(deposit(i) for i in range(12)))
            assert len({r["tx_hash"] for r in records}) == 12
            assert await Contracts.for_client(clients[0]).token.balance(user) == sum(1_000 + i for i in range(12))
            await assert_sequences_match_network(clients[0], sessions[0], keys)
        finally:
            for c in clients:
                await c.close()


@pytest.fixture(autouse=True)
def _contract_addresses_are_the_sandbox_ones(addresses) -> None:
    assert addresses.integration_router == CONTRACT_ADDRESSES["integration_router"]


async def test_channels_hold_exactly_once_under_try_again_later_and_dropped_responses(
    sandbox, operator, addresses, lease_sessions, verified_user, faults
) -> None:
    keys = funded(sandbox.url, 2)
    client = channel_client(sandbox.url, operator, addresses, await make_pool(lease_sessions, keys))
    submitter = ChainSubmitter(lease_sessions, client)
    user = verified_user.public_key
    try:
        faults.post("/sandbox/faults", json={"try_again_later_rate": 0.4, "drop_response_rate": 0.4})

        async def deposit(i: int) -> dict:
            return await submitter.submit_once(
                f"mint-{uuid.uuid4()}", contract="integration_router", function="execute_bitcoin_deposit",
                invoke=mint(Contracts.for_client(client), user, 2_000 + i, os.urandom(32)),
            )

        records = await asyncio.gather(*(deposit(i) for i in range(6)))
        faults.post("/sandbox/faults", json={"try_again_later_rate": 0.0, "drop_response_rate": 0.0})
        assert len({r["tx_hash"] for r in records}) == 6
        assert await Contracts.for_client(client).token.balance(user) == sum(2_000 + i for i in range(6))
        await assert_sequences_match_network(client, lease_sessions, keys)
    finally:
        await client.close()
