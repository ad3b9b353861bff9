"""Moved to :mod:`contracts.search_attributes`."""

# re-export for the merge; removed once api/ imports contracts
from contracts.search_attributes import *  # noqa: F403
