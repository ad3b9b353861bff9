"""Moved to :mod:`contracts.deposits`."""

# re-export for the merge; removed once api/ imports contracts
from contracts.deposits import *  # noqa: F403
