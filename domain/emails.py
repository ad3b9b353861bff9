"""E-mail addresses as login names: syntax check and one normal form per mailbox."""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email

from domain.errors import DomainError

#: RFC 5321 §4.5.3.1.3: a path (and so an address) is at most 256 octets including the brackets.
MAX_EMAIL_LENGTH = 254


class InvalidEmail(DomainError):
    """Not a syntactically valid e-mail address."""

    code = "invalid_email"


def normalise_email(value: str) -> str:
    """Return the canonical login name for ``value``.

    The address is syntax-checked (no DNS lookup), Unicode-normalised (NFC, IDNA for the domain) by
    ``email-validator``, then lower-cased as a whole. RFC 5321 allows a case-sensitive local part,
    but no mainstream mailbox provider uses one, and treating ``Bob@x`` and ``bob@x`` as two
    accounts invites look-alike registrations.

    Raises:
        InvalidEmail: not an address, or longer than 254 characters.

    Source: RFC 5321 §2.4 and §4.5.3.1; RFC 6531 (internationalised addresses).
    """
    candidate = value.strip()
    if len(candidate) > MAX_EMAIL_LENGTH:
        raise InvalidEmail("e-mail address is too long")
    try:
        result = validate_email(candidate, check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidEmail(str(exc)) from None
    return result.normalized.lower()


class EmailTaken(DomainError):
    """Another account already uses this (normalised) e-mail address."""

    code = "email_taken"
