"""AuthCache on its own (no I/O): what it trusts, when a fill is refused, how big it gets."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from api.auth.cache import AccountState, AuthCache
from api.auth.tokens import TokenClaims
from domain.roles import Role

ACTIVE_USER = AccountState(is_active=True, role="user", tokens_valid_after=None)


def live_cache(**sizes: int) -> AuthCache:
    cache = AuthCache(max_tokens=sizes.get("max_tokens", 10), max_accounts=sizes.get("max_accounts", 10))
    cache.attach()
    return cache


def fill(cache: AuthCache, ticket: int | None, jti: str = "j1", user_id: uuid.UUID | None = None,
         revoked: bool = False) -> bool:
    return cache.fill(ticket, jti=jti, revoked=revoked, user_id=user_id or uuid.uuid4(), account=ACTIVE_USER)


class TestTrust:
    def test_nothing_is_stored_or_served_before_the_listener_attaches(self) -> None:
        cache = AuthCache(max_tokens=10, max_accounts=10)
        assert cache.ticket() is None
        assert not fill(cache, 0)
        cache.note_revoked("j1")
        assert cache.revoked("j1") is None and cache.sizes() == (0, 0)

    def test_a_fill_is_served_while_live(self) -> None:
        cache, user_id = live_cache(), uuid.uuid4()
        assert fill(cache, cache.ticket(), user_id=user_id)
        assert cache.revoked("j1") is False and cache.account(user_id) == ACTIVE_USER

    def test_detach_forgets_everything_and_stops_serving(self) -> None:
        cache, user_id = live_cache(), uuid.uuid4()
        fill(cache, cache.ticket(), user_id=user_id)
        cache.detach()
        assert cache.revoked("j1") is None and cache.account(user_id) is None and cache.sizes() == (0, 0)
        cache.attach()
        assert cache.revoked("j1") is None  # attached again, but from empty


class TestRace:
    """A fill whose read started before a change was announced must not put the old state back."""

    def test_a_revocation_between_ticket_and_fill_wins(self) -> None:
        cache = live_cache()
        ticket = cache.ticket()  # the request reads Postgres: not revoked (yet)
        cache.handle("revoked:j1")  # the revocation commits and its NOTIFY is handled
        assert not fill(cache, ticket, "j1", revoked=False)
        assert cache.revoked("j1") is True

    def test_an_account_change_between_ticket_and_fill_wins(self) -> None:
        cache, user_id = live_cache(), uuid.uuid4()
        ticket = cache.ticket()
        cache.handle(f"user:{user_id}")
        assert not fill(cache, ticket, user_id=user_id)
        assert cache.account(user_id) is None

    @pytest.mark.parametrize("event", ["detach", "attach", "note_revoked", "forget_account"])
    def test_any_other_event_also_voids_fills_in_flight(self, event: str) -> None:
        cache = live_cache()
        ticket = cache.ticket()
        {"detach": lambda: (cache.detach(), cache.attach()), "attach": cache.attach,
         "note_revoked": lambda: cache.note_revoked("other"),
         "forget_account": lambda: cache.forget_account(uuid.uuid4())}[event]()
        assert not fill(cache, ticket)

    def test_a_garbled_notification_clears_everything(self) -> None:
        cache, user_id = live_cache(), uuid.uuid4()
        fill(cache, cache.ticket(), user_id=user_id)
        cache.handle("user:not-a-uuid")
        assert cache.sizes() == (0, 0)


class TestBounds:
    def test_least_recently_used_entries_go_first(self) -> None:
        cache = live_cache(max_tokens=2, max_accounts=2)
        users = [uuid.uuid4() for _ in range(3)]
        fill(cache, cache.ticket(), "j0", users[0])
        fill(cache, cache.ticket(), "j1", users[1])
        assert cache.revoked("j0") is False and cache.account(users[0]) is not None  # touched: now newest
        fill(cache, cache.ticket(), "j2", users[2])
        assert cache.sizes() == (2, 2)
        assert cache.revoked("j1") is None and cache.account(users[1]) is None
        assert cache.revoked("j0") is False and cache.revoked("j2") is False


class TestAccountState:
    def claims(self, role: Role = Role.USER, issued_at: int = 1_000) -> TokenClaims:
        return TokenClaims(user_id=uuid.uuid4(), role=role, issued_at=issued_at,
                           expires_at=datetime.now(UTC), jti="j")

    def test_rules(self) -> None:
        assert ACTIVE_USER.admits(self.claims())
        assert not AccountState(False, "user", None).admits(self.claims())
        assert not AccountState(True, "operator", None).admits(self.claims())
        assert AccountState(True, "user", 1_000).admits(self.claims(issued_at=1_000))  # same second: role check decides
        assert not AccountState(True, "user", 1_001).admits(self.claims(issued_at=1_000))


class TestVerifiedTokens:
    def claims(self, expires_at: datetime) -> TokenClaims:
        return TokenClaims(user_id=uuid.uuid4(), role=Role.USER, issued_at=0, expires_at=expires_at, jti="j")

    def test_only_the_exact_string_hits_and_only_until_exp(self) -> None:
        cache = AuthCache(max_tokens=10, max_accounts=10)  # not live: verification does not depend on Postgres
        fresh = self.claims(datetime.now(UTC) + timedelta(minutes=5))
        cache.remember_verified("a.b.c", fresh)
        assert cache.verified_claims("a.b.c") == fresh
        assert cache.verified_claims("a.b.d") is None
        cache.remember_verified("x.y.z", self.claims(datetime.now(UTC) - timedelta(seconds=1)))
        assert cache.verified_claims("x.y.z") is None

    def test_off_when_the_cache_has_no_room(self) -> None:
        cache = AuthCache(max_tokens=0, max_accounts=0)
        cache.remember_verified("a.b.c", self.claims(datetime.now(UTC) + timedelta(minutes=5)))
        assert cache.verified_claims("a.b.c") is None
