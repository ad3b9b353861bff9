"""What one API process remembers about tokens and accounts between requests, and when it forgets.

Two bounded LRU maps: ``jti → revoked?`` and ``user id → AccountState`` (active flag, role, token
cut-off). They are only trusted while :class:`api.auth.listener.AuthChangeListener` holds its
``LISTEN auth_changes`` connection (migration 0015 NOTIFYs it at the commit of every revocation
and every ``users`` change); while it does not, every lookup misses and nothing is stored, so
callers read Postgres as if there were no cache.

The race between a fill and a concurrent change is closed by a generation counter: a caller takes
a :meth:`AuthCache.ticket` *before* it reads Postgres, and :meth:`AuthCache.fill` stores the
result only if no notification, attach or detach happened in between. So once a change has
committed and its notification has been handled here, no read that started earlier can put the
old state back, and every read that starts later sees the change in Postgres.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from typing import Generic, TypeVar

from api.auth.tokens import TokenClaims

log = logging.getLogger(__name__)
REVOKED_PREFIX = "revoked:"
USER_PREFIX = "user:"
K = TypeVar("K")
V = TypeVar("V")


@dataclass(frozen=True)
class AccountState:
    """What the auth check needs of a ``users`` row."""

    is_active: bool
    role: str
    tokens_valid_after: int | None
    """The token cut-off in whole seconds since the Unix epoch (``users.tokens_valid_after``), or None."""

    def admits(self, claims: TokenClaims) -> bool:
        """False when the account is deactivated, its role is not the token's, or the token was
        issued before the cut-off (same rule as ``api.auth.dependencies._is_current``)."""
        if not self.is_active or self.role != claims.role.value:
            return False
        return self.tokens_valid_after is None or claims.issued_at >= self.tokens_valid_after


class _Lru(Generic[K, V]):
    """A dict of at most ``capacity`` entries that drops the least recently used one."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._items: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        value = self._items.get(key)
        if value is not None:
            self._items.move_to_end(key)
        return value

    def put(self, key: K, value: V) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self.capacity:
            self._items.popitem(last=False)

    def pop(self, key: K) -> None:
        self._items.pop(key, None)

    def clear(self) -> None:
        self._items.clear()

    def __len__(self) -> int:
        return len(self._items)


class AuthCache:
    """Token revocations and account states of one API process.

    Args:
        max_tokens: most ``jti`` entries kept (revoked or not); older ones are read again.
        max_accounts: most account states kept.
    """

    def __init__(self, *, max_tokens: int, max_accounts: int) -> None:
        self._verified: _Lru[str, TokenClaims] = _Lru(max_tokens)
        self._tokens: _Lru[str, bool] = _Lru(max_tokens)
        self._accounts: _Lru[uuid.UUID, AccountState] = _Lru(max_accounts)
        self._generation = 0
        self._live = False
        #: Notifications handled since start (tests and metrics wait on it).
        self.notifications = 0

    @property
    def live(self) -> bool:
        """True while the listener is connected and listening: only then are entries trusted."""
        return self._live

    def verified_claims(self, token: str) -> TokenClaims | None:
        """The claims of ``token`` if this exact string was verified before and has not expired.

        A signature check is the dearest step of a status read, and its outcome depends only on
        the bytes of the token and the process's keys, not on Postgres, so it is kept whether or
        not the cache is live. The key is the whole token, signature included: any other string
        (a forged or altered one) misses and is verified in full. Expiry is re-checked on every
        hit (``exp``, whole seconds; expired at ``exp`` itself, as pyjwt decides).
        """
        claims = self._verified.get(token)
        if claims is None:
            return None
        if time.time() >= claims.expires_at.timestamp():
            self._verified.pop(token)
            return None
        return claims

    def remember_verified(self, token: str, claims: TokenClaims) -> None:
        """``token`` passed full verification and decoded to ``claims``."""
        if self._verified.capacity:
            self._verified.put(token, claims)

    def revoked(self, jti: str) -> bool | None:
        """Whether ``jti`` is revoked, or None when unknown here (read Postgres)."""
        return self._tokens.get(jti) if self._live else None

    def account(self, user_id: uuid.UUID) -> AccountState | None:
        """The account's state, or None when unknown here (read Postgres)."""
        return self._accounts.get(user_id) if self._live else None

    def ticket(self) -> int | None:
        """Take before reading Postgres; hand to :meth:`fill`. None while not live (nothing is stored)."""
        return self._generation if self._live else None

    def fill(self, ticket: int | None, *, jti: str, revoked: bool, user_id: uuid.UUID, account: AccountState) -> bool:
        """Remember what Postgres said, unless anything changed since ``ticket`` was taken.

        Returns:
            True when stored; False when the ticket is stale or the cache is not live.
        """
        if ticket is None or not self._live or ticket != self._generation:
            return False
        self._tokens.put(jti, revoked)
        self._accounts.put(user_id, account)
        return True

    def note_revoked(self, jti: str) -> None:
        """This process revoked ``jti`` (logout): refuse it here at once, before the NOTIFY comes back.
        Refusing early is always safe, so this needs no ticket."""
        self._generation += 1
        if self._live:
            self._tokens.put(jti, True)

    def forget_account(self, user_id: uuid.UUID) -> None:
        """This process changed the account: drop its state and void fills in flight."""
        self._generation += 1
        self._accounts.pop(user_id)

    def handle(self, payload: str) -> None:
        """Apply one ``auth_changes`` notification (``revoked:<jti>`` or ``user:<uuid>``); anything
        else clears the whole cache, as the only safe reading of what it cannot parse."""
        self._generation += 1
        self.notifications += 1
        if payload.startswith(REVOKED_PREFIX):
            self._tokens.put(payload[len(REVOKED_PREFIX):], True)
            return
        if payload.startswith(USER_PREFIX):
            try:
                self._accounts.pop(uuid.UUID(payload[len(USER_PREFIX):]))
                return
            except ValueError:
                pass
        log.warning("auth change notification not understood; cache cleared")
        self._clear()

    def attach(self) -> None:
        """The listener is listening: start trusting (from empty, since changes may have been missed)."""
        self._clear()
        self._live = True

    def detach(self) -> None:
        """The listener lost its connection: forget everything and stop trusting until :meth:`attach`."""
        self._live = False
        self._clear()

    def sizes(self) -> tuple[int, int]:
        """``(tokens, accounts)`` currently held (revocation entries and account states)."""
        return len(self._tokens), len(self._accounts)

    def _clear(self) -> None:
        self._generation += 1
        self._tokens.clear()
        self._accounts.clear()
