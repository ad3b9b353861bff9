"""Moved to :mod:`contracts.workflow_ids`."""

# re-export for the merge; removed once api/ imports contracts
from contracts.workflow_ids import *  # noqa: F403
