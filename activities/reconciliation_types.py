"""Moved to :mod:`contracts.reconciliation`."""

# re-export for the merge; removed once api/ imports contracts
from contracts.reconciliation import *  # noqa: F403
