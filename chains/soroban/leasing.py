"""``ChannelLeasing``: how a client takes, frees and recovers channel accounts of a pool.

* ``lease()`` waits for a free channel (a release in this process wakes waiters at once,
  other processes' releases are polled for), first resolving channels a crash left bound, and
  loads the account's sequence number and balance when the pool does not track them;
* ``release()`` frees a channel once its envelope is resolved (applied, dead, refused);
* ``resolve_stuck()`` looks up by hash the envelope of every channel whose lease ran out while
  bound, and frees it only if it was applied or is provably dead;
* ``ran_dry()`` tells a channel that could not pay its fee (``txINSUFFICIENT_BALANCE``) from a
  refusal of the call itself, records its balance (the low-balance alert) and lets the caller
  rebuild on another channel.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import replace

from stellar_sdk import SorobanServerAsync, TransactionEnvelope
from stellar_sdk.soroban_rpc import GetTransactionStatus

from chains.soroban.channels import ChannelLease, ChannelPool, Resolution
from chains.soroban.envelopes import is_dead, load_account_state, source_of
from chains.soroban.errors import ChannelsBusy, SorobanError, SorobanUnavailable, SubmissionRejected
from chains.soroban.rpc_errors import rpc_call

STUCK_CHECK_SECONDS = 5.0  # how often a leasing client looks for channels a crash left bound


class ChannelLeasing:
    """Leases of one client over ``pool``.

    Args:
        pool: the pool's state (Postgres in the engine).
        server: the RPC, for account loads and hash lookups.
        wait_seconds: how long ``lease`` waits before ``ChannelsBusy``.
        poll_interval_seconds: pause between attempts while every channel is taken.
    """

    def __init__(
        self, pool: ChannelPool, server: SorobanServerAsync, *, wait_seconds: float, poll_interval_seconds: float
    ) -> None:
        self.pool = pool
        self.server = server
        self.wait_seconds = wait_seconds
        self.poll_interval_seconds = poll_interval_seconds
        self._next_stuck_check = 0.0
        self._freed = asyncio.Event()

    async def lease(self) -> ChannelLease:
        """A leased channel with its sequence number.

        Raises:
            ChannelsBusy: none became free within ``wait_seconds`` (nothing was built or sent).
            SorobanUnavailable, SourceAccountMissing: loading the channel account failed.
        """
        deadline = time.monotonic() + self.wait_seconds
        while True:
            if time.monotonic() >= self._next_stuck_check:
                self._next_stuck_check = time.monotonic() + STUCK_CHECK_SECONDS
                await self.resolve_stuck()
            lease = await self.pool.acquire()
            if lease is not None:
                break
            if time.monotonic() > deadline:
                raise ChannelsBusy(f"no channel account free after {self.wait_seconds:.0f} s")
            self._freed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._freed.wait(), self.poll_interval_seconds)
        if lease.sequence is not None:
            return lease
        try:
            sequence, balance = await load_account_state(self.server, lease.public_key)
        except BaseException:
            await self.release_unused(lease)
            raise
        await self.pool.record_balance(lease.public_key, balance, sequence)
        return replace(lease, sequence=sequence)

    async def release_unused(self, lease: ChannelLease) -> None:
        """Give back a lease no envelope was bound to (a no-op once one is bound)."""
        await self.pool.release(lease.public_key, resolution=Resolution.UNUSED, sequence=None, tx_hash=None,
                                token=lease.token)
        self._freed.set()

    async def release(self, envelope: TransactionEnvelope, resolution: Resolution, lease: ChannelLease | None) -> None:
        """Free the channel of ``envelope`` (its source) after it was resolved as ``resolution``."""
        await self.pool.release(
            source_of(envelope), resolution=resolution, sequence=envelope.transaction.sequence,
            tx_hash=envelope.hash_hex(), token=lease.token if lease else None,
        )
        self._freed.set()

    async def resolve_stuck(self) -> int:
        """Free every stuck channel whose envelope is applied or provably dead; returns how many."""
        freed = 0
        for bound in await self.pool.stuck():
            try:
                got = await rpc_call(self.server.get_transaction, bound.tx_hash)
            except SorobanUnavailable:
                return freed
            if got.status in (GetTransactionStatus.SUCCESS, GetTransactionStatus.FAILED):
                resolution = Resolution.APPLIED
            elif is_dead(max_time=bound.max_time, auth_expiration_ledger=bound.auth_expiration_ledger,
                         close_time=got.latest_ledger_close_time, latest_ledger=got.latest_ledger):
                resolution = Resolution.DEAD
            else:
                continue  # may still be included: the channel stays bound
            await self.pool.release(bound.public_key, resolution=resolution, sequence=bound.envelope_sequence,
                                    tx_hash=bound.tx_hash)
            freed += 1
        if freed:
            self._freed.set()
        return freed

    async def ran_dry(self, envelope: TransactionEnvelope, rejected: SubmissionRejected) -> bool:
        """True when the channel could not pay (``txINSUFFICIENT_BALANCE``): its balance is recorded
        (raising the low-balance alert) and the call may be rebuilt on another channel."""
        if rejected.result_code != "txINSUFFICIENT_BALANCE":
            return False
        with contextlib.suppress(SorobanError):
            _, balance = await load_account_state(self.server, source_of(envelope))
            await self.pool.record_balance(source_of(envelope), balance)
        return True
