"""Fee bumping of a stuck payout (pure): when to bump, at what fee, and which version won.

A payout has **versions**: version 0 is the batch transaction as first signed; each bump adds
one. An **RBF** version (BIP 125) is a new parent transaction spending the same inputs and paying
the same recipients, with a smaller change (the extra fee comes out of custody's change, never
out of the recipients). A **CPFP** version keeps the parent and adds a child spending the
parent's change back to custody with a fee that lifts the package to the target rate; a later
CPFP version replaces that child (BIP 125 again, one input). Every version conflicts with every
other (they share an input), so at most one can ever confirm.

``extra_fee_sats`` of a version is what it adds to the fee of the version before it; version
``k`` costs the custodian the sum of the extras of versions 1..k, booked to ``network_fees`` and
paid from the ``fee_reserve`` (:mod:`domain.entries`). The users' fee shares stay those of
version 0: a bump never charges them twice.

Amounts are satoshis, rates sat/vB, sizes vB. Source: BIP 125 rules 3, 4 and 6 as Bitcoin Core
27 applies them (``policy/rbf.cpp``: the replacement pays at least the replaced fees plus the
incremental relay fee for its own size, at a higher fee rate), Bitcoin Core's package (ancestor)
fee rate for block assembly (CPFP).

Exception tree::

    BumpRefused (code)
     ├── AtFeeCap            fee_rate_at_cap
     └── ChangeTooSmall      change_too_small
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from domain.errors import DomainError

#: Bitcoin Core's default ``-incrementalrelayfee`` (0.00001 BTC/kvB = 1 sat/vB).
INCREMENTAL_RELAY_FEE_SAT_VB = 1
#: Core's default minimum relay fee: a child must pay at least this for its own size.
MIN_RELAY_FEE_SAT_VB = 1


class BumpRefused(DomainError):
    code = "bump_refused"


class AtFeeCap(BumpRefused):
    """The payout already pays the configured fee cap: no higher rate is allowed."""

    code = "fee_rate_at_cap"


class ChangeTooSmall(BumpRefused):
    """The change cannot absorb the extra fee (and stay above dust)."""

    code = "change_too_small"


class BumpMethod(StrEnum):
    RBF = "rbf"
    CPFP = "cpfp"


def bump_due(*, broadcast_height: int | None, tip_height: int, after_blocks: int) -> bool:
    """True when ``after_blocks`` blocks were mined since the current version was broadcast
    (``broadcast_height``: the tip then) and the payout is still unconfirmed."""
    return broadcast_height is not None and tip_height - broadcast_height >= after_blocks


def target_fee_rate(*, current_sat_vb: int, estimate_sat_vb: int, cap_sat_vb: int,
                    requested_sat_vb: int | None = None) -> int:
    """The fee rate of the next version: the operator's request or the estimate, at least one
    sat/vB above the current rate, never above the cap.

    Raises:
        AtFeeCap: the current rate is already the cap.
    """
    if current_sat_vb >= cap_sat_vb:
        raise AtFeeCap(f"the payout already pays the fee cap of {cap_sat_vb} sat/vB")
    wanted = requested_sat_vb if requested_sat_vb is not None else estimate_sat_vb
    return min(max(wanted, current_sat_vb + INCREMENTAL_RELAY_FEE_SAT_VB), cap_sat_vb)


def replacement_fee_sats(*, replaced_fee_sats: int, replaced_vsize_vb: int, new_vsize_vb: int,
                         target_rate_sat_vb: int) -> int:
    """Least fee of a BIP 125 replacement at ``target_rate_sat_vb``.

    Args:
        replaced_fee_sats: fees of every transaction it evicts (the conflicting version and its
            mempool descendants).
        replaced_vsize_vb: vsize of the directly conflicting transaction.
        new_vsize_vb: the replacement's vsize.

    Returns:
        ``max(target x new size, replaced fees + incremental relay x new size)``, and more than
        the replaced transaction's own fee rate (rule 6).
    """
    fee = max(target_rate_sat_vb * new_vsize_vb, replaced_fee_sats + INCREMENTAL_RELAY_FEE_SAT_VB * new_vsize_vb)
    while fee * replaced_vsize_vb <= replaced_fee_sats * new_vsize_vb:  # fee rate must be strictly higher
        fee += 1
    return fee


def cpfp_child_fee_sats(*, parent_fee_sats: int, parent_vsize_vb: int, child_vsize_vb: int, target_rate_sat_vb: int,
                        replaced_child_fee_sats: int | None = None, replaced_child_vsize_vb: int | None = None) -> int:
    """Fee of a child that lifts its parent to ``target_rate_sat_vb`` (package fee rate).

    The child pays at least the minimum relay fee for itself; when it replaces an earlier child
    it also obeys :func:`replacement_fee_sats` against that child.
    """
    package = target_rate_sat_vb * (parent_vsize_vb + child_vsize_vb) - parent_fee_sats
    fee = max(package, MIN_RELAY_FEE_SAT_VB * child_vsize_vb)
    if replaced_child_fee_sats is not None and replaced_child_vsize_vb is not None:
        fee = max(fee, replacement_fee_sats(replaced_fee_sats=replaced_child_fee_sats,
                                            replaced_vsize_vb=replaced_child_vsize_vb, new_vsize_vb=child_vsize_vb,
                                            target_rate_sat_vb=target_rate_sat_vb))
    return fee


def reduced_change(*, change_sats: int, extra_fee_sats: int, min_change_sats: int) -> int:
    """The change of an RBF version that pays ``extra_fee_sats`` more than the one it replaces.

    Raises:
        ChangeTooSmall: the change would fall below ``min_change_sats``.
    """
    left = change_sats - extra_fee_sats
    if left < min_change_sats:
        raise ChangeTooSmall(f"{change_sats} sats of change cannot pay {extra_fee_sats} sats more and stay above dust")
    return left


# ---- which version won ----------------------------------------------------------------------

@dataclass(frozen=True)
class VersionView:
    """One version as the chain shows it now.

    ``parent_txid``: the transaction paying the recipients; ``child_txid``: a CPFP child (None
    for original and RBF versions). ``*_height``: the block that holds it (None: unconfirmed).
    """

    version: int
    parent_txid: str
    parent_height: int | None
    child_txid: str | None = None
    child_height: int | None = None


@dataclass(frozen=True)
class Winner:
    """The version the chain confirmed: its number, the recipients' txid and the block heights."""

    version: int
    txid: str
    block_height: int
    child_height: int | None = None

    def depth(self, tip_height: int) -> int:
        """Confirmations of the whole version (a CPFP version counts from the later block)."""
        last = max(self.block_height, self.child_height or 0)
        return tip_height - last + 1


def winner(versions: Sequence[VersionView]) -> Winner | None:
    """The version the chain confirmed, or None while it cannot be told yet.

    The confirmed parent decides between parents. Versions sharing it differ by their child: the
    one whose child confirmed wins; a parent-only version wins only if none of its siblings has a
    child (a child of a confirmed parent is always valid and will confirm, so it is waited for).
    """
    confirmed = [v for v in versions if v.parent_height is not None]
    if not confirmed:
        return None
    parent = confirmed[0].parent_txid
    siblings = [v for v in versions if v.parent_txid == parent]
    with_child = [v for v in siblings if v.child_txid is not None]
    for v in with_child:
        if v.child_height is not None:
            assert v.parent_height is not None
            return Winner(v.version, parent, v.parent_height, v.child_height)
    if with_child:
        return None  # the parent confirmed, its child has not yet
    first = min(siblings, key=lambda v: v.version)
    assert first.parent_height is not None
    return Winner(first.version, parent, first.parent_height)
