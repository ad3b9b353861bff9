"""``custody soak --minutes M``: deposits and withdrawals at the chain's limit while the worker, the
API and the Soroban sandbox are SIGKILLed and restarted at random moments, and the sandbox answers
``TRY_AGAIN_LATER`` and drops responses; then every operation must be completed or parked with a
reason, and the books, both chains and the projections must agree to the satoshi.

It runs on a stack of its own (:mod:`cli.soak_stack`: its own Temporal dev server, a scratch
database on the configured PostgreSQL server, both sandboxes as processes, workers and APIs), never
on the ``make dev`` stack: a soak kills processes and leaves test money behind. Everything random
(kill moments, victims, amounts) comes from one seeded RNG whose seed is printed, so a failing run
can be repeated with ``--seed``. The exit code is 1 when any check fails.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import httpx
import typer

from cli.soak_stack import SoakStack, StackConfig

if TYPE_CHECKING:  # the engine's modules load only when a soak runs, not with every command
    from cli.soak_load import Clients, LoadStats, User
    from domain.check_report import CheckReport


@dataclass
class SoakConfig:
    """One soak. Times in seconds, rates in [0, 1].

    seconds: how long load and faults run. users: how many users share the load.
    try_again_later_rate / drop_response_rate: the Soroban sandbox's fault knobs during the run.
    kill_every: (min, max) pause between two kills. victims: which kinds are killed, in rounds
    of random order (``worker``, ``api``, ``soroban``). tx_per_s: the engine transactions per second to offer
    (None: the chain's limit, one per source account per ledger: ``stack.channels`` channel
    accounts, or the operator alone when there are none). settle_seconds: how long the
    operations may go without one of them settling afterwards (a backlog the engine drains
    slower than the chain's limit is no failure; an operation that never settles is).
    """

    seconds: float = 60.0
    seed: int | None = None
    users: int = 6
    stack: StackConfig = field(default_factory=StackConfig)
    try_again_later_rate: float = 0.1
    drop_response_rate: float = 0.1
    kill_every: tuple[float, float] = (4.0, 10.0)
    victims: tuple[str, ...] = ("worker", "api", "soroban")
    tx_per_s: float | None = None
    settle_seconds: float = 240.0

    @property
    def offered_tx_per_s(self) -> float:
        """The engine transactions per second the load offers (``tx_per_s`` or the chain's limit)."""
        return self.tx_per_s or max(self.stack.channels, 1) / self.stack.ledger_interval_seconds


@dataclass
class SoakReport:
    """What a soak did (``load``: requests; ``kills``: SIGKILLs by kind) and what it proved."""

    seed: int
    load: LoadStats
    kills: Counter
    checks: CheckReport
    #: Operations at the end by ``type status/stage`` (parked ones show ``needs_attention``).
    outcomes: Counter = field(default_factory=Counter)
    #: JSON-RPC responses the Soroban sandbox dropped after the call took effect (its HTTP 504s).
    dropped_responses: int = 0
    #: Channel accounts the engine submitted from (0: the operator alone), and the offered rate.
    channels: int = 0
    tx_per_s: float = 0.0
    #: Parked operations by ``type: reason`` (their ``error``).
    parked: Counter = field(default_factory=Counter)

    @property
    def ok(self) -> bool:
        return self.checks.ok

    def summary(self) -> str:
        """Seed, load, kills, how the operations ended, one line per check, the score."""
        kills = ", ".join(f"{k} {n}" for k, n in sorted(self.kills.items())) or "none"
        refused = ", ".join(f"{k} {n}" for k, n in sorted(self.load.refused.items())) or "none"
        lines = [
            f"soak seed={self.seed}: {self.channels} channel(s), {self.tx_per_s:g} tx/s offered: "
            f"{self.load.deposits} deposits, {self.load.withdrawals} withdrawals, "
            f"{sum(self.kills.values())} kills ({kills}), {self.dropped_responses} Soroban responses dropped, "
            f"{self.load.retries} client retries, refused: {refused}",
            "operations: " + (", ".join(f"{k} {n}" for k, n in sorted(self.outcomes.items())) or "none"),
            *([f"parked: {', '.join(f'{k} {n}' for k, n in sorted(self.parked.items()))}"] if self.parked else []),
            *(f"ok    {name}" for name in self.checks.checked),
            *(f"FAIL  {problem}" for problem in self.checks.problems),
            f"checks passed: {len(self.checks.checked)}/{len(self.checks.checked) + len({p.split(':')[0] for p in self.checks.problems})}",
        ]
        return "\n".join(lines)


async def run_soak(config: SoakConfig, *, say: Callable[[str], None] = print) -> SoakReport:
    """Start a stack, run the soak on it, check, tear it down; see the module docstring.

    Raises:
        RuntimeError: the stack did not start, or a client request kept failing past its budget.
    """
    from cli.soak_checks import operations, run_checks, settle
    from cli.soak_load import Clients
    from workers.registry import WorkerDeps

    seed = config.seed if config.seed is not None else random.SystemRandom().randrange(2**32)
    say(f"soak seed={seed} (repeat with --seed {seed})")
    rng = random.Random(seed)
    os.environ["APP_ENV"] = "test"
    stack = await SoakStack(config.stack).start()
    deps = await WorkerDeps.build(stack.settings)
    clients = Clients(stack.api_urls, stack.esplora_url, stack.soroban_url, deps, rng)
    kills: Counter = Counter()
    try:
        users = [await clients.new_user() for _ in range(config.users)]
        say(f"stack up: {len(stack.workers)} worker(s), {len(stack.apis)} API(s), {config.stack.channels} channel "
            f"account(s), {len(users)} users, offering {config.offered_tx_per_s:g} tx/s; state in {stack.state_dir}")
        await _set_faults(stack, config)
        end = time.monotonic() + config.seconds
        chaos = asyncio.create_task(_chaos(stack, config, rng, end, kills, say))
        await _load(clients, users, config, rng, end)
        await chaos
        for child in stack.children:  # whatever a kill left down comes back for the drain
            if not child.alive:
                child.start()
                await child.wait_ready()
        await _set_faults(stack, config, clear=True)
        say(f"load done ({clients.stats.deposits} deposits, {clients.stats.withdrawals} withdrawals); settling")
        await settle(deps, timeout_seconds=config.settle_seconds, say=say, while_progressing=True)
        checks = await run_checks(stack.settings, deps, stack.esplora_url, stack.temporal)
        final = await operations(deps)
        outcomes = Counter(f"{o.operation_type} {o.status}/{o.stage}" for o in final)
        parked = Counter(f"{o.operation_type}: {(o.error or '')[:120]}" for o in final if o.stage == "needs_attention")
        dropped = stack.soroban.tail(chars=1 << 30).count('" 504')  # its access log: one line per answer
    finally:
        await clients.close()
        await deps.close()
        await stack.aclose()
    report = SoakReport(seed, clients.stats, kills, checks, outcomes, dropped, config.stack.channels,
                        config.offered_tx_per_s, parked)
    say(report.summary())
    return report


async def _set_faults(stack: SoakStack, config: SoakConfig, *, clear: bool = False) -> None:
    knobs = {"try_again_later_rate": 0.0 if clear else config.try_again_later_rate,
             "drop_response_rate": 0.0 if clear else config.drop_response_rate}
    async with httpx.AsyncClient(timeout=10) as http:
        (await http.post(f"{stack.soroban_url}/sandbox/faults", json=knobs)).raise_for_status()


async def _chaos(stack: SoakStack, config: SoakConfig, rng: random.Random, end: float, kills: Counter,
                 say: Callable[[str], None]) -> None:
    pools = {"worker": stack.workers, "api": stack.apis, "soroban": [stack.soroban]}
    started = time.monotonic()
    order: list[str] = []
    while True:
        await asyncio.sleep(rng.uniform(*config.kill_every))
        if time.monotonic() >= end:
            return
        if not order:  # rounds in random order: every kind is hit once per round
            order = rng.sample(config.victims, len(config.victims))
        kind = order.pop()
        child = rng.choice(pools[kind])
        down = rng.uniform(0.0, 2.0)
        say(f"  t={time.monotonic() - started:5.1f}s SIGKILL {child.name}, restart in {down:.1f}s")
        child.kill()
        kills[kind] += 1
        await asyncio.sleep(down)
        child.start()
        await child.wait_ready()
        if kind == "soroban":  # the knobs live in the sandbox's memory, not its state dir
            await _set_faults(stack, config)


async def _load(clients: Clients, users: list[User], config: SoakConfig, rng: random.Random, end: float) -> None:
    """Offer ``tx_per_s`` engine transactions per second: a deposit costs one (the mint), a
    withdrawal two (the burn and its completion). Each request runs on its own, so a dead API
    slows no one down but the requests it holds."""
    rate = config.offered_tx_per_s
    tasks: list[asyncio.Task] = []
    while time.monotonic() < end:
        user = rng.choice(users)
        available = await clients.available(user)
        if rng.random() < 0.35 and available >= 40_000:
            amount = rng.randint(35_000, min(available, 90_000))
            tasks.append(asyncio.create_task(clients.withdraw(user, amount)))
            cost = 2
        else:
            tasks.append(asyncio.create_task(clients.deposit(user, rng.randint(6, 20) * 10_000)))
            cost = 1
        await asyncio.sleep(cost / rate)
    await asyncio.gather(*tasks)


def soak(
    minutes: float = typer.Option(1.0, help="How long load and faults run."),
    seed: int | None = typer.Option(None, help="RNG seed (printed; pass it again to repeat a run)."),
    users: int = typer.Option(6, min=1),
    workers: int = typer.Option(1, min=1, help="Worker processes."),
    apis: int = typer.Option(1, min=1, help="API processes."),
    channels: int = typer.Option(4, min=0, help="Soroban channel accounts (0: the operator is the only source); "
                                 "the load offers channels ÷ ledger interval transactions per second."),
    ledger_interval: float = typer.Option(1.0, help="Soroban ledger close interval, seconds (public network: 5)."),
    mine_interval: float = typer.Option(2.0, help="Bitcoin block interval, seconds."),
    try_again_later_rate: float = typer.Option(0.1, min=0.0, max=1.0),
    drop_response_rate: float = typer.Option(0.1, min=0.0, max=1.0),
    pg_url: str | None = typer.Option(None, help="PostgreSQL server (default: the configured database's server)."),
    keep: bool = typer.Option(False, help="Keep the scratch database and state dir (logs) afterwards."),
) -> None:
    """Chaos soak on a stack of its own; exit 1 when any check fails."""
    from cli.main import settings_or_exit

    server = pg_url or urlsplit(settings_or_exit().database.libpq_url())._replace(path="/postgres").geturl()
    config = SoakConfig(
        seconds=minutes * 60, seed=seed, users=users, try_again_later_rate=try_again_later_rate,
        drop_response_rate=drop_response_rate,
        stack=StackConfig(workers=workers, apis=apis, channels=channels, ledger_interval_seconds=ledger_interval,
                          mine_interval_seconds=mine_interval, pg_server_url=server, keep=keep),
    )
    report = asyncio.run(run_soak(config, say=typer.echo))
    raise typer.Exit(0 if report.ok else 1)
