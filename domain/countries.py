"""ISO 3166-1 alpha-2 country codes: the KYC ``country``, registered on ``kyc_registry`` as the
customer's jurisdiction.

The list is shipped in ``domain/data/iso3166_alpha2.txt`` (the 249 officially assigned codes, from
Debian's iso-codes 4.15.0, which follows the ISO 3166 Maintenance Agency); user-assigned codes
such as ``XK`` or ``ZZ`` are not countries and are refused.
"""

from __future__ import annotations

from functools import cache
from importlib import resources


@cache
def country_codes() -> frozenset[str]:
    """Every assigned alpha-2 code, upper case (loaded once per process)."""
    text = resources.files("domain.data").joinpath("iso3166_alpha2.txt").read_text(encoding="utf-8")
    return frozenset(line.split("\t", 1)[0] for line in text.splitlines() if line and not line.startswith("#"))


def normalise_country(value: str) -> str:
    """``" ch "`` → ``"CH"``: trimmed and upper-cased (the check is :func:`is_country`)."""
    return value.strip().upper()


def is_country(code: str) -> bool:
    """Whether ``code`` (already normalised) is an assigned ISO 3166-1 alpha-2 code."""
    return code in country_codes()
