"""Moved to :mod:`contracts.kyc`."""

# re-export for the merge; removed once api/ imports contracts
from contracts.kyc import *  # noqa: F403
