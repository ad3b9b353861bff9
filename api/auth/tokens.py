"""Access tokens: signed JWTs (pyjwt) with the claims ``sub, role, iat, exp, jti, iss, aud``.

The algorithm is pinned from config (``auth.jwt_algorithm``): a token that names another one,
including ``none``, is refused before its signature is looked at. HMAC algorithms use
``auth.jwt_secret``; RS256, ES256 and EdDSA use the PEM files ``auth.jwt_private_key_file`` (to
sign) and ``auth.jwt_public_key_file`` (to verify).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import jwt

from config.settings import AuthSettings
from domain.roles import Role

REQUIRED_CLAIMS = ("sub", "role", "iat", "exp", "jti", "iss", "aud")


class InvalidToken(Exception):
    """The token is malformed, signed with another key or algorithm, expired, for another issuer
    or audience, or lacks a required claim. The message is for logs, never for clients."""


class TokenKeyMissing(Exception):
    """An asymmetric algorithm is configured without the key file it needs."""


@dataclass(frozen=True)
class TokenClaims:
    user_id: uuid.UUID
    role: Role
    issued_at: int
    """``iat`` in whole seconds since the Unix epoch (RFC 7519 NumericDate)."""
    expires_at: datetime
    jti: str


@dataclass(frozen=True)
class IssuedToken:
    token: str
    claims: TokenClaims
    expires_in: int
    """Seconds from issue to expiry (``auth.token_lifetime_seconds``)."""


def _read_key(path: Path | None, what: str) -> str:
    if path is None:
        raise TokenKeyMissing(f"auth.jwt_{what}_key_file is required for asymmetric JWT algorithms")
    return path.read_text()


class TokenCodec:
    """Issue and verify access tokens with the configured algorithm, keys, issuer and audience.

    Raises (at construction):
        TokenKeyMissing: an asymmetric algorithm without its private or public key file.

    Source: RFC 7519 (JWT claims), RFC 8725 (JWT best current practice: pin algorithms, validate
        iss/aud/exp).
    """

    def __init__(self, auth: AuthSettings):
        self._algorithm = auth.jwt_algorithm
        self._issuer = auth.jwt_issuer
        self._audience = auth.jwt_audience
        self._lifetime_seconds = auth.token_lifetime_seconds
        if self._algorithm.startswith("HS"):
            secret = auth.jwt_secret.get_secret_value()
            self._signing_key: str = secret
            self._verifying_key: str = secret
        else:
            self._signing_key = _read_key(auth.jwt_private_key_file, "private")
            self._verifying_key = _read_key(auth.jwt_public_key_file, "public")

    def issue(self, *, user_id: uuid.UUID, role: Role, now: datetime | None = None) -> IssuedToken:
        """A new token for ``user_id`` acting as ``role``, with a fresh random ``jti``."""
        issued = int((now or datetime.now(UTC)).timestamp())
        expires = issued + self._lifetime_seconds
        claims = TokenClaims(
            user_id=user_id,
            role=role,
            issued_at=issued,
            expires_at=datetime.fromtimestamp(expires, UTC),
            jti=uuid.uuid4().hex,
        )
        payload = {
            "sub": str(user_id),
            "role": role.value,
            "iat": issued,
            "exp": expires,
            "jti": claims.jti,
            "iss": self._issuer,
            "aud": self._audience,
        }
        token = jwt.encode(payload, self._signing_key, algorithm=self._algorithm)
        return IssuedToken(token=token, claims=claims, expires_in=self._lifetime_seconds)

    def decode(self, token: str) -> TokenClaims:
        """Verify ``token`` and return its claims.

        Raises:
            InvalidToken: any failure of format, algorithm, signature, ``exp``, ``iat``, ``iss``,
                ``aud``, a missing claim, a ``sub`` that is not a UUID or an unknown ``role``.
        """
        try:
            payload = jwt.decode(
                token,
                self._verifying_key,
                algorithms=[self._algorithm],
                issuer=self._issuer,
                audience=self._audience,
                options={"require": list(REQUIRED_CLAIMS)},
            )
            return TokenClaims(
                user_id=uuid.UUID(str(payload["sub"])),
                role=Role(payload["role"]),
                issued_at=int(payload["iat"]),
                expires_at=datetime.fromtimestamp(int(payload["exp"]), UTC),
                jti=str(payload["jti"]),
            )
        except (jwt.PyJWTError, ValueError, TypeError) as exc:
            raise InvalidToken(type(exc).__name__) from None
