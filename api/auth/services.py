"""What the auth dependencies need, built once per app from its settings."""

from __future__ import annotations

from dataclasses import dataclass

from api.auth.client_ip import ClientIpResolver
from api.auth.passwords import PasswordHasher
from api.auth.tokens import TokenCodec
from config.settings import Settings


@dataclass(frozen=True)
class AuthServices:
    passwords: PasswordHasher
    tokens: TokenCodec
    client_ips: ClientIpResolver
    attempts_per_minute_per_ip: int
    attempts_per_minute_per_account: int

    @classmethod
    def from_settings(cls, settings: Settings) -> AuthServices:
        """Raises :class:`api.auth.tokens.TokenKeyMissing` when asymmetric keys are missing."""
        return cls(
            passwords=PasswordHasher(settings.auth),
            tokens=TokenCodec(settings.auth),
            client_ips=ClientIpResolver(settings.server.trusted_proxies),
            attempts_per_minute_per_ip=settings.auth.auth_attempts_per_minute_per_ip,
            attempts_per_minute_per_account=settings.auth.auth_attempts_per_minute_per_account,
        )
