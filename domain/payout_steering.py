"""What an operator may ask of a payout (pure): its statuses, when a bump may be asked, and how a
refused signature contribution is told apart (a conflict, or invalid input)."""

from __future__ import annotations

from enum import StrEnum

from domain.errors import Conflict, Refused


class PayoutStatus(StrEnum):
    """``payouts.status`` (the values of ``db.models.payout.PAYOUT_STATUSES``)."""

    AWAITING_SIGNATURE = "awaiting_signature"
    SIGNED = "signed"
    BROADCAST = "broadcast"
    CONFIRMED = "confirmed"
    ABANDONED = "abandoned"

    @property
    def is_settled(self) -> bool:
        """Confirmed or abandoned: nothing about it changes any more."""
        return self in (PayoutStatus.CONFIRMED, PayoutStatus.ABANDONED)


#: Refusals of a signature contribution that mean "already there" (a conflict, not bad input).
CONFLICTING_CONTRIBUTIONS = frozenset({"duplicate_signature", "signer_already_signed"})


def check_bumpable(status: PayoutStatus | str, *, fee_rate_sat_vb: int | None, fee_rate_cap_sat_vb: int) -> None:
    """A bump may be asked of a broadcast payout, at a rate (sat/vB) up to the cap (the cap passes).

    Raises:
        Conflict: ``payout_settled`` (confirmed or abandoned), ``payout_not_broadcast`` (still
            waiting for signatures, or signed and not yet sent).
        Refused: ``fee_rate_above_cap`` (with ``field``).
    """
    status = PayoutStatus(status)
    if status.is_settled:
        raise Conflict(f"the payout is {status}", code="payout_settled")
    if status != PayoutStatus.BROADCAST:
        raise Conflict(f"only a payout on its way can be bumped; this one is {status}", code="payout_not_broadcast")
    if fee_rate_sat_vb is not None and fee_rate_sat_vb > fee_rate_cap_sat_vb:
        raise Refused(f"the fee cap is {fee_rate_cap_sat_vb} sat/vB", code="fee_rate_above_cap",
                      extra={"field": "fee_rate_sat_vb"})
