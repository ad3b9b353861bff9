"""How long a workflow waits before it asks the chain or the database again.

A workflow that follows something slow (a payout batch waiting for its quorum, a transaction
waiting for depth) polls through an activity. Every round costs about eight history events and a
database read, so a fixed short interval makes long waits expensive twice over: Temporal's
history limits (the server suggests continue-as-new past 4 Ki events and fails a run at 50 Ki)
and load that grows with every waiting withdrawal. The rule: poll at the configured interval
while things change, back off exponentially while they do not, never beyond ``cap_factor``
intervals, so a change is still seen within a bounded delay.
"""

from __future__ import annotations

#: The longest pause, in configured poll intervals (30 s in production: at most 4 minutes). Waits
#: that never continue as new use it: a deposit's transaction may sit in the mempool for its 14
#: days of expiry, about 2,900 history events a day at this cap, still under the 50 Ki limit.
BACKOFF_CAP_FACTOR = 8
#: The cap of waits that continue as new (a withdrawal following its batch, the payout's loop):
#: their history is bounded anyway, so they see a change sooner (2 minutes in production).
FOLLOW_CAP_FACTOR = 4


def next_pause(poll_seconds: float, unchanged_rounds: int, *, cap_factor: int = BACKOFF_CAP_FACTOR) -> float:
    """The pause before the next poll, in seconds.

    Args:
        poll_seconds: the configured poll interval (> 0).
        unchanged_rounds: polls in a row that saw nothing new (0: the last one saw a change).
        cap_factor: the longest pause, in poll intervals (>= 1).

    Returns:
        ``poll_seconds * 2**unchanged_rounds``, at most ``poll_seconds * cap_factor``.

    Raises:
        ValueError: ``poll_seconds`` not positive, ``unchanged_rounds`` negative or ``cap_factor`` < 1.
    """
    if poll_seconds <= 0 or unchanged_rounds < 0 or cap_factor < 1:
        raise ValueError("poll_seconds must be positive, unchanged_rounds >= 0 and cap_factor >= 1")
    doublings: int = 1 << min(unchanged_rounds, cap_factor)  # (2**cap >= cap: no huge powers)
    return poll_seconds * min(doublings, cap_factor)


def unchanged_after(previous: object, current: object, rounds: int) -> int:
    """Rounds in a row without change: ``rounds + 1`` when ``current == previous``, else 0."""
    return rounds + 1 if current == previous else 0
