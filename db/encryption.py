"""Authenticated encryption of personal data at rest (``kyc_records.verification_data``).

AES-256-GCM (NIST SP 800-38D) with a random 96-bit nonce per record. The record id is bound as
associated data, so a ciphertext copied onto another row fails to decrypt. The envelope stores
the key id, so old rows stay readable after ``kyc.active_key_id`` rotates to a new key.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Mapping
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import SecretStr

ENVELOPE_VERSION = 1


class DecryptionFailed(Exception):
    """Unknown key id, tampered ciphertext, or a ciphertext moved to another record."""


class RecordCipher:
    """Encrypts JSON documents under the active key; decrypts under any configured key."""

    def __init__(self, keys: Mapping[str, SecretStr], active_key_id: str):
        self._keys = {kid: AESGCM(base64.b64decode(k.get_secret_value())) for kid, k in keys.items()}
        if active_key_id not in self._keys:
            raise ValueError("active key id is not among the configured keys")
        self.active_key_id = active_key_id

    def __repr__(self) -> str:
        return f"RecordCipher(active_key_id={self.active_key_id!r}, keys={sorted(self._keys)})"

    def encrypt(self, document: Mapping[str, Any], *, record_id: str) -> dict[str, Any]:
        """Return the envelope ``{v, kid, nonce, ct}`` (base64 fields) for ``document``."""
        nonce = os.urandom(12)
        plaintext = json.dumps(document, separators=(",", ":"), sort_keys=True).encode()
        ct = self._keys[self.active_key_id].encrypt(nonce, plaintext, record_id.encode())
        return {
            "v": ENVELOPE_VERSION,
            "kid": self.active_key_id,
            "nonce": base64.b64encode(nonce).decode(),
            "ct": base64.b64encode(ct).decode(),
        }

    def decrypt(self, envelope: Mapping[str, Any], *, record_id: str) -> dict[str, Any]:
        """Inverse of :meth:`encrypt`.

        Raises:
            DecryptionFailed: unknown key id, malformed envelope, or authentication failure.
        """
        key = self._keys.get(str(envelope.get("kid")))
        if key is None or envelope.get("v") != ENVELOPE_VERSION:
            raise DecryptionFailed("unknown key id or envelope version")
        try:
            plaintext = key.decrypt(
                base64.b64decode(envelope["nonce"]), base64.b64decode(envelope["ct"]), record_id.encode()
            )
        except (InvalidTag, KeyError, ValueError) as exc:
            raise DecryptionFailed("ciphertext does not authenticate") from exc
        return json.loads(plaintext)
