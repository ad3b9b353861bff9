"""The operator signing key: loaded from an environment variable or a secret file.

The secret seed never appears in logs, reprs or exception messages; only the public key
does. Prefer a file (mode 0600, e.g. the sandbox's ``operator.secret`` or a mounted
secret) over an environment variable in production.
"""

from __future__ import annotations

import os
from pathlib import Path

from stellar_sdk import Keypair
from stellar_sdk.exceptions import Ed25519SecretSeedInvalidError

DEFAULT_ENV_VAR = "CUSTODY_SOROBAN_OPERATOR_SECRET"


class OperatorKeyError(Exception):
    """The operator secret is missing or invalid (the message never contains it)."""


class OperatorKey:
    """Holds the operator keypair; ``repr``/``str`` show only the public key."""

    __slots__ = ("_keypair",)

    def __init__(self, keypair: Keypair) -> None:
        if not keypair.can_sign():
            raise OperatorKeyError("operator key must include its secret")
        self._keypair = keypair

    @property
    def keypair(self) -> Keypair:
        return self._keypair

    @property
    def public_key(self) -> str:
        return self._keypair.public_key

    def __repr__(self) -> str:
        return f"OperatorKey(public_key={self.public_key!r}, secret=<hidden>)"

    __str__ = __repr__

    @classmethod
    def from_secret(cls, secret: str) -> OperatorKey:
        try:
            return cls(Keypair.from_secret(secret.strip()))
        except (Ed25519SecretSeedInvalidError, ValueError):
            raise OperatorKeyError("operator secret is not a valid Stellar secret seed") from None

    @classmethod
    def load(cls, *, env_var: str = DEFAULT_ENV_VAR, secret_file: Path | str | None = None) -> OperatorKey:
        """Load from ``secret_file`` if given, else from the environment variable ``env_var``.

        Raises:
            OperatorKeyError: neither source holds a valid secret seed.
        """
        if secret_file is not None:
            path = Path(secret_file)
            try:
                return cls.from_secret(path.read_text())
            except OSError as exc:
                raise OperatorKeyError(f"cannot read operator secret file {path.name}: {exc.strerror}") from None
        value = os.environ.get(env_var)
        if not value:
            raise OperatorKeyError(f"operator secret not set (env {env_var} or a secret file)")
        return cls.from_secret(value)
