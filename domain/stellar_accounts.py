"""Stellar account ids (``G…`` strkeys), where a user's iSTSi is minted."""

from __future__ import annotations

from domain.errors import Conflict, DomainError


class StellarAddressTaken(Conflict):
    """Another account already names this Stellar account: iSTSi minted there would not be the
    caller's to redeem (withdrawals need that account's signature)."""

    code = "stellar_address_taken"


class InvalidStellarAddress(DomainError):
    """Not an ed25519 account strkey (wrong version byte, length, base32 or CRC16 checksum)."""

    code = "invalid_stellar_address"


def check_account_strkey(value: str) -> str:
    """Return ``value`` when it is a valid Stellar account id (``G…``, 56 characters).

    Muxed accounts (``M…``) and contract ids (``C…``) are refused: tokens are minted to a plain
    account.

    Raises:
        InvalidStellarAddress: the version byte is not ``G``, or the base32 payload or its CRC16-XModem
            checksum is wrong.

    Source: SEP-23 (strkey encoding).
    """
    # Imported here, not at module top: workflows may import domain/, and the Temporal sandbox
    # refuses stellar_sdk at import time (docs/DESIGN.md §8).
    from stellar_sdk import StrKey

    if not StrKey.is_valid_ed25519_public_key(value):
        raise InvalidStellarAddress("not a valid Stellar account id (G... strkey)")
    return value
