"""Password policy for memorized secrets chosen by users (NIST SP 800-63B).

What is checked: length in Unicode code points after NFKC normalisation (8 to 128), and a
blocklist: the common passwords shipped in ``domain/data/common_passwords.txt``, a single character
repeated, and context words (the account's own e-mail address or its local part). What is
deliberately not checked: composition rules (digits, symbols, mixed case) and periodic expiry,
which the guideline says verifiers SHALL NOT impose.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from functools import cache
from importlib import resources

from domain.errors import DomainError

MIN_PASSWORD_LENGTH = 8
#: NIST asks for at least 64; 128 bounds the work an attacker can make the hasher do per request.
MAX_PASSWORD_LENGTH = 128


class WeakPassword(DomainError):
    """The password breaks the policy; the message says which rule, never the password."""

    code = "weak_password"


def normalise_password(password: str) -> str:
    """NFKC form of ``password``: the same secret typed on different keyboards hashes the same.

    Source: NIST SP 800-63B §5.1.1.2 (Unicode normalisation before hashing).
    """
    return unicodedata.normalize("NFKC", password)


@cache
def common_passwords() -> frozenset[str]:
    """The shipped blocklist, lower-cased (loaded once per process)."""
    text = resources.files("domain.data").joinpath("common_passwords.txt").read_text(encoding="utf-8")
    return frozenset(
        line.strip().lower() for line in text.splitlines() if line.strip() and not line.startswith("#")
    )


def check_password(password: str, *, context: Iterable[str] = ()) -> None:
    """Accept ``password`` as a new memorized secret or raise :class:`WeakPassword`.

    Args:
        password: the secret as typed (normalised here with NFKC before any rule is applied).
        context: words specific to this account (e.g. its e-mail address and local part) that the
            password must not be, compared case-insensitively.

    Raises:
        WeakPassword: fewer than 8 or more than 128 code points, a common password, one character
            repeated, or equal to a context word.

    Source: NIST SP 800-63B §5.1.1.2 (length 8 minimum, at least 64 allowed, blocklist of
        commonly-used, expected or compromised values; no composition rules).
    """
    normalised = normalise_password(password)
    length = len(normalised)
    if length < MIN_PASSWORD_LENGTH:
        raise WeakPassword(f"password must be at least {MIN_PASSWORD_LENGTH} characters")
    if length > MAX_PASSWORD_LENGTH:
        raise WeakPassword(f"password must be at most {MAX_PASSWORD_LENGTH} characters")
    lowered = normalised.lower()
    if lowered in common_passwords():
        raise WeakPassword("password is too common; choose another")
    if len(set(lowered)) == 1:
        raise WeakPassword("password must not be one repeated character")
    if any(word and lowered == word.lower() for word in context):
        raise WeakPassword("password must not be your e-mail address or name")
