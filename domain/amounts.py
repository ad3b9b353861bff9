"""Amounts at the door: whole satoshis within Bitcoin's supply.

Every amount the API accepts (``btc_amount``, ``token_amount``) is an integer number of satoshis
(1 iSTSi base unit = 1 satoshi, docs/DESIGN.md §3), at least 1 and at most the 21,000,000 BTC
that can ever exist. JSON numbers with a fraction or an exponent (``15000.0``, ``1.5e4``), strings
(``"15000"``) and booleans are refused rather than coerced: a custody API never guesses an amount.
The upper bound also keeps every amount inside Postgres ``BIGINT`` and Soroban ``u64``/``i128``.
"""

from __future__ import annotations

from domain.errors import DomainError

#: Satoshis in one bitcoin.
SATS_PER_BTC = 100_000_000
#: Bitcoin's supply cap, 21,000,000 BTC, in satoshis (consensus rule of the subsidy schedule).
MAX_SATS = 21_000_000 * SATS_PER_BTC
MIN_SATS = 1


class AmountNotInteger(DomainError):
    """Not a JSON integer (a float, a string, a boolean…)."""

    code = "amount_not_integer"


class AmountOutOfRange(DomainError):
    """Below 1 satoshi or above Bitcoin's supply."""

    code = "amount_out_of_range"


def check_sats(value: object) -> int:
    """``value`` itself when it is a whole number of satoshis in ``1..MAX_SATS`` (both included).

    Raises:
        AmountNotInteger: ``value`` is not an ``int`` (``bool`` is refused too).
        AmountOutOfRange: ``value < 1`` or ``value > MAX_SATS``.
    """
    if not isinstance(value, int) or isinstance(value, bool):
        raise AmountNotInteger("amounts are whole satoshis, sent as a JSON integer (no fraction, no quotes)")
    if not MIN_SATS <= value <= MAX_SATS:
        raise AmountOutOfRange(f"amounts are between {MIN_SATS} and {MAX_SATS} satoshis (21,000,000 BTC)")
    return value


class BelowMinimum(DomainError):
    """An amount below the configured minimum of its operation (exactly the minimum passes).

    One class for deposits and withdrawals; each raises it with the code its clients know
    (:data:`DEPOSIT_BELOW_MINIMUM`, :data:`WITHDRAWAL_BELOW_MINIMUM`).
    """

    code = "below_minimum"


#: The code a deposit below ``deposits.minimum_sats`` is refused with.
DEPOSIT_BELOW_MINIMUM = "below_minimum"
#: The code a withdrawal below ``withdrawals.minimum_sats`` is refused with.
WITHDRAWAL_BELOW_MINIMUM = "amount_below_minimum"
