"""Moved to :mod:`contracts.event_monitor`."""

# re-export for the merge; removed once api/ imports contracts
from contracts.event_monitor import *  # noqa: F403
