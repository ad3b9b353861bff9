"""Moved to :mod:`contracts.reserves`."""

# re-export for the merge; removed once api/ imports contracts
from contracts.reserves import *  # noqa: F403
