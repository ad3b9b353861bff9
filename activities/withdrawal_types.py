"""Moved to :mod:`contracts.withdrawals`."""

# re-export for the merge; removed once api/ imports contracts
from contracts.withdrawals import *  # noqa: F403
