"""Channel accounts: what the client needs from a pool of transaction sources.

The network keeps at most one queued transaction per source account, so one operator account
caps the engine at one Soroban call per ledger. A pool of funded *channel accounts* lifts the
cap: each transaction uses a leased channel as its source (sequence number and fee), while the
operator only signs the contract call's authorization entry (address credentials). Because
those credentials name the operator, not the channel, any channel can carry any call.

:class:`ChannelPool` is the contract between :class:`~chains.soroban.client.SorobanClient`
and whoever keeps the pool's state (Postgres in the engine: ``activities.channel_pool``):

* ``acquire()`` leases a free channel (no unresolved envelope bound to it) or returns None;
* the envelope built on the lease is bound to the channel when the caller stores it;
* ``release(...)`` frees the channel once its envelope is resolved by hash, and records the
  sequence number the network consumed (or asks for a reload after ``txBAD_SEQ``);
* ``stuck()`` lists channels whose lease ran out while an envelope was bound (a crashed
  worker): the client resolves those by hash before they are used again.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from stellar_sdk import Keypair

from chains.soroban.envelopes import SignedEnvelope


class Resolution(StrEnum):
    """How a channel's envelope ended (what ``release`` does with the tracked sequence)."""

    UNUSED = "unused"  # nothing was sent (failed before store): sequence unchanged
    APPLIED = "applied"  # included, SUCCESS or FAILED: the envelope's sequence is consumed
    DEAD = "dead"  # provably never included (time bound and auth expiry passed): unchanged
    BAD_SEQ = "bad_seq"  # rejected txBAD_SEQ: our tracked sequence is wrong, reload it


@dataclass(frozen=True)
class ChannelLease:
    """A leased channel.

    Attributes:
        keypair: the channel account's key (transaction source and fee payer).
        sequence: its last consumed sequence number as tracked; None = load from the network.
        token: the lease owner token (the store step checks it is still ours).
    """

    keypair: Keypair
    sequence: int | None
    token: str

    @property
    def public_key(self) -> str:
        return self.keypair.public_key


@dataclass(frozen=True)
class BoundEnvelope:
    """An envelope bound to a channel whose lease ran out before it was resolved.

    ``max_time`` is the time bound (unix seconds); ``auth_expiration_ledger`` the last ledger at
    which its authorization entries are valid (0 = none).
    """

    public_key: str
    tx_hash: str
    envelope_sequence: int
    max_time: int
    auth_expiration_ledger: int


class ChannelPool(Protocol):
    """State of the channel accounts (see module docstring)."""

    async def acquire(self) -> ChannelLease | None:
        """Lease a free channel, or None when every channel is busy."""
        ...

    async def bind(self, envelope: SignedEnvelope) -> None:
        """Bind a signed envelope to its channel (lease ``envelope.lease_token``) before it is sent.

        Callers that persist envelopes bind in their own store transaction instead.
        """
        ...

    async def release(
        self, public_key: str, *, resolution: Resolution, sequence: int | None, tx_hash: str | None,
        token: str | None = None,
    ) -> None:
        """Free the channel after its envelope ``tx_hash`` (or, unbound, lease ``token``) is resolved.

        ``sequence`` is the envelope's sequence number (APPLIED records it as consumed).
        """
        ...

    async def stuck(self) -> list[BoundEnvelope]:
        """Channels whose lease expired while an envelope was bound to them."""
        ...

    async def record_balance(self, public_key: str, balance_stroops: int, sequence: int | None = None) -> None:
        """Remember the channel's XLM balance and network sequence (alert when the balance is low)."""
        ...
