"""Moved to :mod:`contracts.payouts`."""

# re-export for the merge; removed once api/ imports contracts
from contracts.payouts import *  # noqa: F403
