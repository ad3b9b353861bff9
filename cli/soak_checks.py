"""What a soak (and the scale test) proves once the load has drained, each as a named check.

* every operation is completed, failed, cancelled, or parked (``needs_attention``) with a reason,
  and no deposit or withdrawal workflow runs without such a row;
* ``custody ledger check`` (the books' invariants, then both chains: :func:`cli.ledger.run_check`);
* Soroban: ``total_supply`` = Σ each user's on-chain balance = Σ ``token_balances`` (and, when no
  operation is parked, = Σ completed deposits − Σ completed withdrawals), and each user's chain
  balance equals their projection;
* one mint per deposit (router ``deposit`` events by outpoint, each with the deposit's amount) and
  one burn per withdrawal (router ``withdraw`` events by withdrawal id);
* each chain event stored once, none missing (``chain_events`` against a full ``getEvents`` scan);
* every signed Soroban envelope resolved (none left ``signed`` but for a parked operation's);
* every channel account free and in step: each configured channel has its ``soroban_channels``
  row, none has an envelope bound, and each tracked sequence number equals the account's on the
  network (``getLedgerEntries``; an untracked one, None, is reloaded at its next lease), so no
  crash leaves a channel stuck or about to send with a used or skipped sequence number;
* each withdrawal paid once (Esplora: a completed one's destination received exactly its payout,
  confirmed; a failed or cancelled one's nothing; a parked one's at most one transaction);
* the custody UTXOs on Esplora equal the custody UTXO set's confirmed outputs, to the satoshi.

Checks that compare with a chain a scheduled scan follows (events, UTXOs) are retried for a while,
so a scanner one page or one block behind is not a false alarm.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable

import httpx
from sqlalchemy import func, select

from chains.soroban.envelopes import load_account_state
from chains.soroban.errors import SourceAccountMissing
from chains.soroban.events import fetch_events
from config.settings import Settings
from db.models import (
    ChainEvent,
    ChainSubmission,
    CustodyAddress,
    CustodyUtxo,
    Operation,
    SorobanChannel,
    TokenBalance,
    User,
)
from domain.check_report import CheckReport
from workers.registry import WorkerDeps

TERMINAL = {"completed", "failed", "cancelled"}


def unsettled(ops: list[Operation]) -> list[str]:
    """Operations neither final nor parked with a reason (``id type status/stage``)."""
    return [f"{o.id} {o.operation_type} {o.status}/{o.stage}" for o in ops
            if o.status not in TERMINAL and not (o.stage == "needs_attention" and o.error)]


async def operations(deps: WorkerDeps) -> list[Operation]:
    """Every ``operations`` row (deposits and withdrawals)."""
    async with deps.sessions() as session:
        return list((await session.execute(select(Operation))).scalars())


async def settle(deps: WorkerDeps, *, timeout_seconds: float, say: Callable[[str], None],
                 while_progressing: bool = False) -> list[str]:
    """Wait until every operation is final or parked; returns those that never were.

    ``while_progressing``: ``timeout_seconds`` counts from the last operation that settled, not
    from the start (a backlog above the engine's pace drains; a stuck operation still fails).
    """
    deadline = time.monotonic() + timeout_seconds
    last = -1
    settled = -1
    while True:
        ops = await operations(deps)
        left = unsettled(ops)
        if while_progressing and len(ops) - len(left) > settled:
            settled = len(ops) - len(left)
            deadline = time.monotonic() + timeout_seconds
        if not left or time.monotonic() > deadline:
            return left
        if len(left) != last:
            say(f"  waiting for {len(left)} operation(s) to settle")
            last = len(left)
        await asyncio.sleep(1.0)


async def _retrying(check: Callable[[], Awaitable[list[str]]], seconds: float = 30.0) -> list[str]:
    deadline = time.monotonic() + seconds
    while True:
        problems = await check()
        if not problems or time.monotonic() > deadline:
            return problems
        await asyncio.sleep(1.0)


async def all_events(deps: WorkerDeps) -> list:
    """Every event of the four contracts, from the RPC's oldest ledger (paged)."""
    server = deps.contracts.token.client.server
    ids = [deps.contracts.router.address, deps.contracts.token.address, deps.contracts.kyc.address,
           deps.contracts.reserve.address]
    oldest = (await server.get_health()).oldest_ledger
    page = await fetch_events(server, contract_ids=ids, start_ledger=max(oldest, 1), limit=1000)
    events = list(page.events)
    while page.events:
        page = await fetch_events(server, contract_ids=ids, cursor=page.cursor, limit=1000)
        events += page.events
    return events


async def run_checks(settings: Settings, deps: WorkerDeps, esplora_url: str, temporal=None) -> CheckReport:
    """Run every check of the module docstring; never raises for a failed check. ``temporal``
    (a client of the stack's server): also check that no deposit or withdrawal workflow runs
    without an unsettled or parked operation row (an orphan)."""
    from cli.ledger import run_check

    results = CheckReport()
    ops = await operations(deps)
    results.expect("every operation completed or parked with a reason", unsettled(ops))
    if temporal is not None:
        results.expect("no workflow runs without its operation",  # visibility may lag a closed run
                       await _retrying(lambda: _orphans(temporal, ops), seconds=15))

    books = await run_check(settings, chains=True)
    results.expect("custody ledger check", books.problems)

    c = deps.contracts
    async with deps.sessions() as session:
        users = list((await session.execute(select(User).where(User.stellar_address.is_not(None)))).scalars())
        projected = {r.user_id: r.balance for r in (await session.execute(select(TokenBalance))).scalars()}
    supply = await c.token.total_supply()
    on_chain = {u.id: await c.token.balance(u.stellar_address) for u in users}
    deposited = sum(o.amount or 0 for o in ops if o.operation_type == "deposit" and o.status == "completed")
    withdrawn = sum(o.amount or 0 for o in ops if o.operation_type == "withdrawal" and o.status == "completed")
    parked = [o for o in ops if o.status not in TERMINAL]
    problems = [f"user {u.id}: chain {on_chain[u.id]} vs token_balances {projected.get(u.id, 0)}"
                for u in users if on_chain[u.id] != projected.get(u.id, 0)]
    if supply != sum(on_chain.values()):
        problems.append(f"total_supply {supply} vs Σ balances on chain {sum(on_chain.values())}")
    if not parked and supply != deposited - withdrawn:
        problems.append(f"total_supply {supply} vs completed deposits {deposited} − withdrawals {withdrawn}")
    results.expect("supply, chain balances and projections agree", problems)

    events = await all_events(deps)
    results.expect("one mint per deposit, one burn per withdrawal", _one_each(ops, events))
    results.expect("each chain event stored once", await _retrying(lambda: _events_stored(deps)))
    results.expect("every signed Soroban envelope resolved", await _submissions(deps, ops))
    results.expect("every channel account unbound, its sequence the network's",  # a scheduled call may hold one
                   await _retrying(lambda: _channels(deps, settings.soroban.channel_count)))
    async with httpx.AsyncClient(base_url=esplora_url, timeout=15) as esplora:
        results.expect("each withdrawal paid once", await _paid_once(ops, esplora))
        results.expect("custody UTXOs on Esplora equal the UTXO set", await _retrying(lambda: _utxos(deps, esplora)))
    return results


async def _orphans(temporal, ops: list[Operation]) -> list[str]:
    open_ids = {o.workflow_id for o in ops if o.status not in TERMINAL}
    query = ("ExecutionStatus = 'Running' AND WorkflowType IN ('DepositWorkflow', 'WithdrawalWorkflow')")
    return [f"{w.id} runs, its operation is final or missing" async for w in temporal.list_workflows(query)
            if w.id not in open_ids]


def _one_each(ops: list[Operation], events: list) -> list[str]:
    router = [e for e in events if e.name in ("deposit", "withdraw")]
    deposits = Counter()
    amounts: dict[str, int] = {}
    for e in router:
        if e.name == "deposit":  # topics (deposit, user, btc_txid) → (amount, vout, op_id)
            outpoint = f"{_hex(e.topics[2])}:{e.value[1]}"
            deposits[outpoint] += 1
            amounts[outpoint] = e.value[0]
    burns = Counter(_hex(e.topics[2]) for e in router if e.name == "withdraw")
    problems = [f"{k} minted {n} times" for k, n in deposits.items() if n > 1]
    problems += [f"withdrawal id {k} burned {n} times" for k, n in burns.items() if n > 1]
    for o in ops:
        if o.operation_type == "deposit" and o.status == "completed":
            if deposits.get(o.outpoint or "", 0) != 1:
                problems.append(f"deposit {o.id} ({o.outpoint}) completed with {deposits.get(o.outpoint or '', 0)} mints")
            elif amounts[o.outpoint] != o.amount:
                problems.append(f"deposit {o.id} minted {amounts[o.outpoint]} for {o.amount}")
    completed_wd = sum(1 for o in ops if o.operation_type == "withdrawal" and o.status == "completed")
    if sum(burns.values()) < completed_wd:
        problems.append(f"{completed_wd} withdrawals completed but {sum(burns.values())} burns on chain")
    return problems


def _hex(value) -> str:
    return value.hex() if isinstance(value, bytes | bytearray) else str(value)


async def _events_stored(deps: WorkerDeps) -> list[str]:
    chain = [e.id for e in await all_events(deps)]
    async with deps.sessions() as session:
        stored = list((await session.execute(select(ChainEvent.id))).scalars())
        count = await session.scalar(select(func.count()).select_from(ChainEvent))
    problems = [f"{n} events not stored" for n in [len(set(chain) - set(stored))] if n]
    problems += [f"{n} stored events not on chain" for n in [len(set(stored) - set(chain))] if n]
    if count != len(set(stored)):
        problems.append(f"{count} rows for {len(set(stored))} event ids")
    return problems


async def _submissions(deps: WorkerDeps, ops: list[Operation]) -> list[str]:
    """After the drain no stored envelope may be left unresolved (``signed``: on chain or not),
    except one a parked operation is waiting on."""
    parked = {str(o.id) for o in ops if o.status not in TERMINAL}
    async with deps.sessions() as session:
        open_ = list((await session.execute(select(ChainSubmission).where(ChainSubmission.status == "signed"))).scalars())
    return [f"{s.idempotency_key} ({s.function}, {s.tx_hash}) still signed" for s in open_
            if s.idempotency_key.rsplit(":", 1)[-1] not in parked]


def channel_problems(rows: list[SorobanChannel], network: dict[str, int | None], *, expected: int) -> list[str]:
    """What is wrong with the channel pool once everything settled: rows missing (``expected``
    channels configured), an envelope still bound, a tracked sequence number that is not the
    network's (``network``: public key → its sequence, None when the account does not exist)."""
    problems = [f"{len(rows)} soroban_channels rows for {expected} configured channels"] if len(rows) != expected else []
    for r in rows:
        if r.submission_key is not None or r.tx_hash is not None:
            problems.append(f"channel {r.public_key} still bound to {r.submission_key} ({r.tx_hash}, "
                            f"sequence {r.envelope_sequence})")
        on_chain = network.get(r.public_key)
        if on_chain is None:
            problems.append(f"channel {r.public_key} does not exist on the network")
        elif r.sequence is not None and r.sequence != on_chain:
            problems.append(f"channel {r.public_key} tracked at sequence {r.sequence}, the network's is {on_chain}")
    return problems


async def _channels(deps: WorkerDeps, expected: int) -> list[str]:
    async with deps.sessions() as session:
        rows = list((await session.execute(select(SorobanChannel).order_by(SorobanChannel.public_key))).scalars())
    server = deps.soroban.server
    network: dict[str, int | None] = {}
    for r in rows:
        try:
            network[r.public_key] = (await load_account_state(server, r.public_key))[0]
        except SourceAccountMissing:
            network[r.public_key] = None
    return channel_problems(rows, network, expected=expected)


async def _paid_once(ops: list[Operation], esplora: httpx.AsyncClient) -> list[str]:
    problems = []
    for o in ops:
        if o.operation_type != "withdrawal":
            continue
        destination = (o.meta or {}).get("btc_address")
        if destination is None:
            problems.append(f"withdrawal {o.id} has no destination in its metadata")
            continue
        txs = (await esplora.get(f"/address/{destination}/txs")).json()
        paying = [t for t in txs if any(v.get("scriptpubkey_address") == destination for v in t["vout"])]
        txids = [t["txid"] for t in paying]
        if o.status == "completed" and (txids != [o.btc_tx_hash] or not paying[0]["status"]["confirmed"]):
            problems.append(f"withdrawal {o.id} completed as {o.btc_tx_hash}; payments on chain {txids}")
        elif o.status in ("failed", "cancelled") and paying:  # given back to the user: never paid too
            problems.append(f"withdrawal {o.id} {o.status} but paid on chain: {txids}")
        elif len(paying) > 1:  # parked: paid at most once
            problems.append(f"withdrawal {o.id} ({o.status}/{o.stage}) paid {len(paying)} times: {txids}")
    return problems


async def _utxos(deps: WorkerDeps, esplora: httpx.AsyncClient) -> list[str]:
    async with deps.sessions() as session:
        addresses = list((await session.execute(select(CustodyAddress.address))).scalars())
        rows = list((await session.execute(select(CustodyUtxo).where(
            CustodyUtxo.state.in_(("confirmed", "reserved"))))).scalars())
    books = {r.outpoint: r.value_sats for r in rows}
    chain: dict[str, int] = {}
    for address in addresses:
        for u in (await esplora.get(f"/address/{address}/utxo")).json():
            if u["status"]["confirmed"]:
                chain[f"{u['txid']}:{u['vout']}"] = u["value"]
    problems = [f"{k} ({v} sats) on chain, not in the UTXO set" for k, v in chain.items() if k not in books]
    problems += [f"{k} ({v} sats) in the UTXO set, not unspent on chain" for k, v in books.items() if k not in chain]
    problems += [f"{k}: chain {chain[k]} vs set {v} sats" for k, v in books.items() if k in chain and chain[k] != v]
    if sum(chain.values()) != sum(books.values()):
        problems.append(f"Σ chain {sum(chain.values())} vs Σ UTXO set {sum(books.values())} sats")
    return problems
