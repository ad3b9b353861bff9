"""Reading a claimed deposit output on the chain: what one observation says (output
classification) and what a run of observations says (depth and reorg tracking). Pure rules,
shared by the observing activity and ``DepositWorkflow``; depths and heights are blocks,
amounts satoshis.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from domain.deposits import DepositFailure, reorg_window_passed


class DepositOutcome(StrEnum):
    """What the chain says about a claimed deposit."""

    CONFIRMED = "confirmed"
    """In a canonical block, paying the claimed amount; see ``confirmations``."""
    UNCONFIRMED = "unconfirmed"
    """In the mempool, paying the claimed amount."""
    NOT_FOUND = "not_found"
    """The chain source does not know the txid (never seen before)."""
    NO_OUTPUT_TO_ADDRESS = "no_output_to_address"
    """The transaction exists but pays nothing to this user's deposit address."""
    AMOUNT_MISMATCH = "amount_mismatch"
    """Outputs to the address sum to another amount than claimed (``amount_sats`` has the real one)."""
    REORGED_OUT = "reorged_out"
    """Seen before, but it vanished, went back to the mempool, or sits in another block now."""

    @property
    def pays_address(self) -> bool:
        """The transaction pays the deposit address (the amount may still be wrong)."""
        return self in (DepositOutcome.CONFIRMED, DepositOutcome.UNCONFIRMED, DepositOutcome.AMOUNT_MISMATCH)

    @property
    def present(self) -> bool:
        """The output is on the chain or in the mempool, paying what was claimed."""
        return self in (DepositOutcome.CONFIRMED, DepositOutcome.UNCONFIRMED)


def classify_output(
    found: DepositOutcome, output_sats: int | None, claimed_sats: int, *, in_block: bool
) -> DepositOutcome:
    """The outcome for output ``vout`` alone, given what the transaction as a whole showed.

    Args:
        found: the transaction's outcome for the deposit address (all its outputs).
        output_sats: what output ``vout`` pays the address (None: it pays the address nothing).
        claimed_sats: the claimed amount.
        in_block: the transaction is in a canonical block.

    Other outputs of the same transaction never count: a transaction that is not found or pays
    the address nothing keeps its outcome.
    """
    if not found.pays_address:
        return found
    if output_sats is None:
        return DepositOutcome.NO_OUTPUT_TO_ADDRESS
    if output_sats != claimed_sats:
        return DepositOutcome.AMOUNT_MISMATCH
    return DepositOutcome.CONFIRMED if in_block else DepositOutcome.UNCONFIRMED


@dataclass(frozen=True)
class DepthWatch:
    """What a deposit's wait for depth remembers between observations.

    ``ever_confirmed``: the output was in a canonical block once; ``missing_since``: the tip
    height when it was first seen off the chain (None while it is present).
    """

    ever_confirmed: bool = False
    missing_since: int | None = None


@dataclass(frozen=True)
class DepthReading:
    """One observation read against the watch: the next watch, the depth that counts (0 unless
    in a canonical block), whether it is deep enough, and the failure when the chain disproved
    the claim (then the wait ends)."""

    watch: DepthWatch
    depth: int
    deep_enough: bool
    failure: DepositFailure | None = None


def read_depth(
    watch: DepthWatch, outcome: DepositOutcome, confirmations: int, tip_height: int, *,
    required: int, reorg_window: int,
) -> DepthReading:
    """Fold one observation into the watch (docs/DESIGN.md §5: reorg-aware confirmation wait).

    A wrong amount or address fails at once. An output off the chain (never seen, dropped, or
    unconfirmed again after it was in a block) may come back within ``reorg_window`` blocks;
    past that it fails ``reorged`` if it had confirmed, else ``tx_not_found``. The wait is over
    when the output is in a canonical block ``required`` blocks deep.
    """
    if outcome == DepositOutcome.AMOUNT_MISMATCH:
        return DepthReading(watch, 0, False, DepositFailure.AMOUNT_MISMATCH)
    if outcome == DepositOutcome.NO_OUTPUT_TO_ADDRESS:
        return DepthReading(watch, 0, False, DepositFailure.NO_OUTPUT_TO_ADDRESS)
    on_chain = outcome == DepositOutcome.CONFIRMED
    off_chain = not outcome.present or (watch.ever_confirmed and not on_chain)
    missing_since: int | None = None
    if off_chain:
        missing_since = tip_height if watch.missing_since is None else watch.missing_since
        if reorg_window_passed(tip_height, missing_since, reorg_window):
            failure = DepositFailure.REORGED if watch.ever_confirmed else DepositFailure.TX_NOT_FOUND
            return DepthReading(watch, 0, False, failure)
    depth = confirmations if on_chain else 0
    following = DepthWatch(ever_confirmed=watch.ever_confirmed or on_chain, missing_since=missing_since)
    return DepthReading(following, depth, on_chain and depth >= required)
