"""The door check of a deposit claim: does output ``vout`` of the transaction pay the claimant's
own deposit address exactly the claimed amount?

Checked on the chain source's answer for ``GET /tx/:txid`` before the claim holds its outpoint,
counts against anything or starts a workflow, so a claim for an unknown transaction, for someone
else's output or for a wrong amount is refused at once (and a copied txid can never block the
rightful owner's own claim). Pure rule, no I/O: the caller passes the outputs it fetched. Amounts
are satoshis; scripts are hex ``scriptPubKey`` (deposits are keyed by outpoint, docs/DESIGN.md §6).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from domain.errors import DomainError


@dataclass(frozen=True)
class ClaimedOutput:
    """One output of the claimed transaction: index, ``scriptPubKey`` hex and value in sats."""

    vout: int
    script_hex: str
    amount_sats: int


class ClaimRefused(DomainError):
    """The chain disproves the claim; ``code`` matches the deposit workflow's failure codes."""


class NoOutputToAddress(ClaimRefused):
    """Output ``vout`` does not exist or does not pay the claimant's deposit address."""

    code = "no_output_to_address"


class AmountMismatch(ClaimRefused):
    """Output ``vout`` pays the claimant's address another amount (``amount_sats``)."""

    code = "amount_mismatch"

    def __init__(self, message: str, *, amount_sats: int):
        super().__init__(message)
        self.amount_sats = amount_sats


def check_claim(outputs: Sequence[ClaimedOutput], *, vout: int, deposit_script_hex: str, claimed_sats: int) -> None:
    """Accept the claim only when output ``vout`` pays ``deposit_script_hex`` exactly ``claimed_sats``.

    Other outputs of the same transaction do not count (each outpoint is its own deposit).

    Raises:
        NoOutputToAddress: no output ``vout``, or it pays another script.
        AmountMismatch: it pays the address, but not ``claimed_sats``.
    """
    output = next((o for o in outputs if o.vout == vout), None)
    if output is None:
        raise NoOutputToAddress(f"the transaction has no output {vout}")
    if output.script_hex != deposit_script_hex:
        raise NoOutputToAddress(f"output {vout} does not pay your deposit address")
    if output.amount_sats != claimed_sats:
        raise AmountMismatch(
            f"output {vout} pays your deposit address {output.amount_sats} sats, not {claimed_sats}",
            amount_sats=output.amount_sats,
        )
