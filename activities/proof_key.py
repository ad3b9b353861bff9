"""The engine's Ed25519 proof-signing key: loaded from ``reserves.signing_key`` (env
``CUSTODY_RESERVES__SIGNING_KEY``) or ``reserves.signing_key_file``; development bootstraps a
random one into a 0600 file, the way ``chains.bitcoin.setup.bootstrap_dev_wallet`` does."""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from config.settings import ReservesSettings


class SigningKeyMissing(Exception):
    """No valid proof-signing key is configured (the message never contains key material)."""


def parse_signing_key(seed_hex: str) -> Ed25519PrivateKey:
    """The key of a 32-byte seed in hex. Raises SigningKeyMissing when malformed."""
    try:
        seed = bytes.fromhex(seed_hex.strip())
        if len(seed) != 32:
            raise ValueError
        return Ed25519PrivateKey.from_private_bytes(seed)
    except ValueError:
        raise SigningKeyMissing("reserves signing key must be 32 bytes of hex") from None


def load_signing_key(settings: ReservesSettings) -> Ed25519PrivateKey:
    """The configured key. Raises SigningKeyMissing when neither source holds a valid one."""
    if settings.signing_key is not None:
        return parse_signing_key(settings.signing_key.get_secret_value())
    path = settings.signing_key_file
    if path is not None and Path(path).exists():
        return parse_signing_key(Path(path).read_text())
    raise SigningKeyMissing("reserves.signing_key / reserves.signing_key_file is not configured")


def bootstrap_dev_signing_key(settings: ReservesSettings, *, app_env: str) -> bool:
    """Write a random seed to ``signing_key_file`` when it is missing (never in production).

    Returns True when a key was created.
    """
    path = settings.signing_key_file
    if app_env == "production" or settings.signing_key is not None or path is None or Path(path).exists():
        return False
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(os.urandom(32).hex() + "\n")
    return True
