"""The phase operators see for a ledger transfer (``domain.transfer_phase``)."""

from __future__ import annotations

import pytest

from domain.ledger import TransferFlags
from domain.transfer_phase import TransferPhase, phase_of


@pytest.mark.parametrize(("flags", "phase"), [
    (TransferFlags(0), TransferPhase.POSTED),
    (TransferFlags.PENDING, TransferPhase.PENDING),
    (TransferFlags.POST_PENDING, TransferPhase.POST),
    (TransferFlags.VOID_PENDING, TransferPhase.VOID),
    (TransferFlags.PENDING | TransferFlags.LINKED, TransferPhase.PENDING),
])
def test_phase_of(flags: TransferFlags, phase: TransferPhase) -> None:
    assert phase_of(flags) == phase
    assert phase_of(flags).value == phase.value  # the API answers the value
