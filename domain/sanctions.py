"""Sanctions screening against a list of names and addresses (a CSV file, sample shipped).

Names are compared after Unicode case-folding, accent stripping and token sorting, so
"DOE, John" and "john doe" match; addresses (Stellar strkeys, Bitcoin addresses) match exactly.
This is exact-match screening on normalised forms; fuzzy matching is a vendor's job.
"""

from __future__ import annotations

import csv
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path


def normalise_name(name: str) -> str:
    """Case-fold, strip accents and punctuation, sort tokens: ``"Doe, Jöhn"`` → ``"doe john"``."""
    decomposed = unicodedata.normalize("NFKD", name.casefold())
    letters = "".join(c if c.isalnum() else " " for c in decomposed if not unicodedata.combining(c))
    return " ".join(sorted(letters.split()))


@dataclass(frozen=True)
class SanctionsList:
    names: frozenset[str]
    addresses: frozenset[str]

    @classmethod
    def from_rows(cls, rows: Iterable[tuple[str, str]]) -> SanctionsList:
        """Rows of ``(kind, value)`` where kind is ``name`` or ``address``."""
        names, addresses = set(), set()
        for kind, value in rows:
            if kind == "name":
                names.add(normalise_name(value))
            elif kind == "address":
                addresses.add(value.strip())
        return cls(frozenset(names), frozenset(addresses))

    @classmethod
    def load(cls, path: Path) -> SanctionsList:
        """Read a CSV with header ``kind,value`` (lines starting with ``#`` are comments)."""
        with path.open(newline="", encoding="utf-8") as fh:
            lines = (line for line in fh if not line.startswith("#"))
            return cls.from_rows((row["kind"].strip(), row["value"]) for row in csv.DictReader(lines))

    def hits(self, *, full_name: str | None, addresses: Iterable[str] = ()) -> list[str]:
        """What matched: ``["name"]``, ``["address:<addr>"]`` …; empty when clear."""
        found = []
        if full_name and normalise_name(full_name) in self.names:
            found.append("name")
        found += [f"address:{a}" for a in addresses if a and a in self.addresses]
        return found
