"""``PgChannelPool``: the channel accounts' leases and sequence numbers, kept in Postgres.

Implements :class:`chains.soroban.channels.ChannelPool` over ``db.queries.soroban_channels``,
so every worker process sharing the database shares one pool without clashing. The channel
secrets stay in this process (config or secret files); the table holds public keys only.
A balance read below ``min_balance_stroops`` raises the ``soroban_channel_low_balance`` alert.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from stellar_sdk import Keypair

from activities.alerts import raise_alert
from chains.soroban.channels import BoundEnvelope, ChannelLease, Resolution
from chains.soroban.envelopes import SignedEnvelope
from chains.soroban.errors import ChannelLeaseLost
from db.queries import chain_submissions as submission_rows
from db.queries import soroban_channels as rows

LOW_BALANCE_ALERT = "soroban_channel_low_balance"


class PgChannelPool:
    """The pool of channel accounts this process holds keys for.

    Args:
        sessions: the engine's session factory.
        keypairs: the channel accounts' keys (each must hold its secret).
        lease_seconds: how long a lease lasts; after it another worker may resolve the bound
            envelope by hash (longer than a transaction's time bound plus its resolution).
        min_balance_stroops: alert when a channel's XLM balance reads below this (stroops).
        balance_check_seconds: reload a channel's account (balance, sequence) this often.
    """

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        keypairs: Sequence[Keypair],
        *,
        lease_seconds: float = 120.0,
        min_balance_stroops: int = 50_000_000,
        balance_check_seconds: float = 300.0,
    ) -> None:
        if not keypairs:
            raise ValueError("a channel pool needs at least one channel account")
        self.sessions = sessions
        self._keys = {k.public_key: k for k in keypairs}
        self.public_keys = sorted(self._keys)
        self.lease_seconds = lease_seconds
        self.min_balance_stroops = min_balance_stroops
        self.balance_check_seconds = balance_check_seconds

    def __repr__(self) -> str:
        return f"PgChannelPool(channels={len(self.public_keys)})"

    async def register(self) -> None:
        """Create the rows of channels not yet in the table (worker start)."""
        await rows.ensure_channels(self.sessions, public_keys=self.public_keys)

    async def acquire(self) -> ChannelLease | None:
        token = secrets.token_hex(16)
        row = await rows.lease_free(
            self.sessions, public_keys=self.public_keys, token=token,
            lease_seconds=self.lease_seconds, balance_check_seconds=self.balance_check_seconds,
        )
        if row is None:
            return None
        # A due balance check reloads the account from the network (balance and sequence).
        sequence = None if row.balance_check_due else row.sequence
        return ChannelLease(keypair=self._keys[row.public_key], sequence=sequence, token=token)

    async def bind(self, envelope: SignedEnvelope) -> None:
        """Bind without a submission row (callers that do not persist envelopes themselves)."""
        key = f"unpersisted:{envelope.tx_hash}"
        async with self.sessions() as session, session.begin():
            if not await rows.bind_envelope(
                session, public_key=envelope.source_account, token=envelope.lease_token or "", key=key,
                tx_hash=envelope.tx_hash, sequence=envelope.sequence, max_time=envelope.max_time,
                auth_expiration_ledger=envelope.auth_expiration_ledger,
            ):
                raise ChannelLeaseLost(f"lease on {envelope.source_account} lost before sending")

    async def release(
        self, public_key: str, *, resolution: Resolution, sequence: int | None, tx_hash: str | None,
        token: str | None = None,
    ) -> None:
        await rows.release(
            self.sessions, public_key=public_key, resolution=resolution.value, sequence=sequence,
            tx_hash=tx_hash, token=token,
        )

    async def stuck(self) -> list[BoundEnvelope]:
        return [
            BoundEnvelope(r.public_key, r.tx_hash, r.envelope_sequence, r.max_time, r.auth_expiration_ledger)
            for r in await rows.list_stuck(self.sessions, public_keys=self.public_keys)
        ]

    async def record_balance(self, public_key: str, balance_stroops: int, sequence: int | None = None) -> None:
        await rows.record_account(self.sessions, public_key=public_key, balance_stroops=balance_stroops, sequence=sequence)
        if balance_stroops < self.min_balance_stroops:
            raise_alert(
                LOW_BALANCE_ALERT,
                f"Soroban channel account {public_key} is low on XLM; fund it",
                channel=public_key, balance_stroops=balance_stroops, min_balance_stroops=self.min_balance_stroops,
            )


async def store_envelope(
    sessions: async_sessionmaker[AsyncSession], *, key: str, contract: str, function: str, signed: SignedEnvelope,
) -> None:
    """Persist ``signed`` under submission ``key`` and bind it to its channel, in one transaction.

    Raises:
        ChannelLeaseLost: the lease ran out first; nothing was stored, nothing may be sent.
    """
    stored = await submission_rows.save_signed(
        sessions, idempotency_key=key, contract=contract, function=function,
        tx_hash=signed.tx_hash, envelope_xdr=signed.envelope_xdr, sequence=signed.sequence,
        max_time=signed.max_time, source_account=signed.source_account or None,
        lease_token=signed.lease_token, auth_expiration_ledger=signed.auth_expiration_ledger,
    )
    if not stored:
        raise ChannelLeaseLost(f"lease on {signed.source_account} lost before sending")
