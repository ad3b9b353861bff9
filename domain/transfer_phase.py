"""The phase of a ledger transfer as operators read it (pure): a two-phase transfer is
``pending`` until a ``post`` or a ``void`` resolves it; a single-phase one is ``posted``."""

from __future__ import annotations

from enum import StrEnum

from domain.ledger import TransferFlags


class TransferPhase(StrEnum):
    """What a transfer does to its accounts' counters (``pending`` holds, ``post``/``void`` resolve)."""

    PENDING = "pending"
    POST = "post"
    VOID = "void"
    POSTED = "posted"


def phase_of(flags: TransferFlags) -> TransferPhase:
    """The phase ``flags`` mark (``PENDING`` wins over ``POST_PENDING`` over ``VOID_PENDING``)."""
    if flags & TransferFlags.PENDING:
        return TransferPhase.PENDING
    if flags & TransferFlags.POST_PENDING:
        return TransferPhase.POST
    if flags & TransferFlags.VOID_PENDING:
        return TransferPhase.VOID
    return TransferPhase.POSTED
