"""getEvents paging: a cursor walk over several pages yields every event once, in order."""

from __future__ import annotations

import os

import pytest
from stellar_sdk import Keypair, scval

from chains.soroban import Contracts, SorobanClient, SorobanError, fetch_events, topic_filter


async def test_cursor_paging_returns_every_event_once_in_order(
    client: SorobanClient, contracts: Contracts, verified_user: Keypair
) -> None:
    user = verified_user.public_key
    start = (await client.server.get_latest_ledger()).sequence
    txids = [os.urandom(32) for _ in range(12)]
    for txid in txids:
        await contracts.router.execute_bitcoin_deposit(user, 100, txid, 0, 6, 1)
    topics = [topic_filter("deposit", scval.to_address(user), "**")]
    page = await fetch_events(client.server, contract_ids=[contracts.router.address], topics=topics, start_ledger=start, limit=5)
    seen, pages = list(page.events), 1
    while len(page.events) == 5:
        page = await fetch_events(client.server, contract_ids=[contracts.router.address], topics=topics, cursor=page.cursor, limit=5)
        seen += page.events
        pages += 1
    assert pages >= 3
    ids = [e.id for e in seen]
    assert ids == sorted(ids) and len(set(ids)) == len(ids) == 12
    assert [e.topics[2] for e in seen] == txids
    assert all(e.contract_id == contracts.router.address and e.name == "deposit" for e in seen)
    # Caught up: the last cursor returns nothing new until another event happens.
    tail = await fetch_events(client.server, contract_ids=[contracts.router.address], topics=topics, cursor=page.cursor)
    assert tail.events == []
    await contracts.router.execute_bitcoin_deposit(user, 100, os.urandom(32), 0, 6, 1)
    tail = await fetch_events(client.server, contract_ids=[contracts.router.address], topics=topics, cursor=page.cursor)
    assert len(tail.events) == 1 and tail.events[0].id > ids[-1]


async def test_event_request_validation(client: SorobanClient, contracts: Contracts) -> None:
    with pytest.raises(ValueError):
        await fetch_events(client.server, contract_ids=[contracts.router.address])
    with pytest.raises(SorobanError):  # startLedger beyond the latest ledger: -32600
        await fetch_events(client.server, contract_ids=[contracts.router.address], start_ledger=10**9)
