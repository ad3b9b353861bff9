"""What the auth dependencies need, built once per app from its settings."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from api.auth.client_ip import ClientIpResolver
from api.auth.passwords import PasswordHasher
from api.auth.tokens import TokenCodec
from config.settings import Settings
from domain.sign_in_limits import LockoutPolicy


@dataclass(frozen=True)
class AuthServices:
    passwords: PasswordHasher
    tokens: TokenCodec
    client_ips: ClientIpResolver
    lockout: LockoutPolicy
    login_failures_per_ip: int
    login_failure_window_seconds: int
    logins_per_ip_per_minute: int
    registrations_per_ip: int
    registration_window_seconds: int

    @classmethod
    def from_settings(cls, settings: Settings) -> AuthServices:
        """Raises :class:`api.auth.tokens.TokenKeyMissing` when asymmetric keys are missing."""
        a = settings.auth
        return cls(
            passwords=PasswordHasher(settings.auth),
            tokens=TokenCodec(settings.auth),
            client_ips=ClientIpResolver(settings.server.trusted_proxies),
            lockout=LockoutPolicy(
                max_failures=a.login_failures_per_account,
                window=timedelta(seconds=a.login_failure_window_seconds),
                base=timedelta(seconds=a.lockout_base_seconds),
                maximum=timedelta(seconds=a.lockout_max_seconds),
            ),
            login_failures_per_ip=a.login_failures_per_ip,
            login_failure_window_seconds=a.login_failure_window_seconds,
            logins_per_ip_per_minute=a.logins_per_ip_per_minute,
            registrations_per_ip=a.registrations_per_ip,
            registration_window_seconds=a.registration_window_seconds,
        )
