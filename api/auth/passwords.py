"""argon2id password hashes (argon2-cffi) with the RFC 9106 parameters from config.

Hashing is CPU- and memory-bound (64 MiB and ~0.1 s per call with production parameters), so the
async helpers run it in a worker thread and the event loop keeps serving other requests.
"""

from __future__ import annotations

import asyncio
import secrets

import argon2
from argon2.exceptions import InvalidHashError, VerificationError

from config.settings import AuthSettings
from domain.passwords import normalise_password


class PasswordHasher:
    """Hash, verify and upgrade passwords; every input is NFKC-normalised first.

    Args:
        auth: ``argon2_time_cost`` (passes), ``argon2_memory_cost_kib`` (KiB) and
            ``argon2_parallelism`` (lanes). Salt 16 bytes, tag 32 bytes.

    Source: RFC 9106 §4 (argon2id, recommended parameter sets); NIST SP 800-63B §5.1.1.2.
    """

    def __init__(self, auth: AuthSettings):
        self._argon2 = argon2.PasswordHasher(
            time_cost=auth.argon2_time_cost,
            memory_cost=auth.argon2_memory_cost_kib,
            parallelism=auth.argon2_parallelism,
            hash_len=32,
            salt_len=16,
            type=argon2.Type.ID,
        )
        # Verified against when the account does not exist, so an unknown e-mail costs the same
        # time as a wrong password (no user enumeration by timing).
        self._decoy_hash = self._argon2.hash(secrets.token_urlsafe(24))

    def hash(self, password: str) -> str:
        """A new PHC string (``$argon2id$v=19$m=…,t=…,p=…$salt$tag``) for ``password``."""
        return self._argon2.hash(normalise_password(password))

    def verify(self, password_hash: str | None, password: str) -> bool:
        """True when ``password`` matches ``password_hash``.

        ``None`` (no such account) verifies against a decoy hash with the same parameters and
        returns False, taking the same time as a real mismatch. A malformed stored hash is a
        mismatch, never an exception.
        """
        target = password_hash if password_hash is not None else self._decoy_hash
        try:
            matched = self._argon2.verify(target, normalise_password(password))
        except (VerificationError, InvalidHashError):
            return False
        return matched and password_hash is not None

    def needs_rehash(self, password_hash: str) -> bool:
        """True when ``password_hash`` was made with other parameters than the configured ones."""
        try:
            return self._argon2.check_needs_rehash(password_hash)
        except InvalidHashError:
            return True

    async def hash_async(self, password: str) -> str:
        return await asyncio.to_thread(self.hash, password)

    async def verify_async(self, password_hash: str | None, password: str) -> bool:
        return await asyncio.to_thread(self.verify, password_hash, password)
