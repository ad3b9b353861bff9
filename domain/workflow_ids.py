"""Deterministic workflow ids and idempotency keys, shared by ``api/`` and ``workers/``.

A deposit is keyed by its outpoint (``txid:vout``), never by txid alone (docs/DESIGN.md §6): the same
outpoint always maps to the same workflow id and the same Postgres key, whoever starts it (the
API, the detection scan, an operator).
"""

from __future__ import annotations

import re

from domain.errors import DomainError

_TXID = re.compile(r"^[0-9a-f]{64}$")
#: Highest output index we accept (Bitcoin's consensus limit on outputs is far lower).
MAX_VOUT = 2**32 - 1
DEPOSIT_SCAN_SCHEDULE_ID = "deposit-scan"


class InvalidOutpoint(DomainError):
    """A txid that is not 64 lower-case hex characters, or a vout outside ``0..2**32-1``."""

    code = "invalid_outpoint"


def outpoint(txid: str, vout: int) -> str:
    """``txid:vout`` after checking both.

    Raises:
        InvalidOutpoint: malformed txid or vout.
    """
    if not _TXID.match(txid):
        raise InvalidOutpoint("txid must be 64 lower-case hex characters")
    if not 0 <= vout <= MAX_VOUT:
        raise InvalidOutpoint("vout must be between 0 and 2**32-1")
    return f"{txid}:{vout}"


def deposit_workflow_id(txid: str, vout: int) -> str:
    """``deposit-<txid>:<vout>`` (docs/DESIGN.md §5)."""
    return f"deposit-{outpoint(txid, vout)}"


def deposit_idempotency_key(txid: str, vout: int) -> str:
    """The derived ``operations.idempotency_key`` of a deposit nobody gave a key for."""
    return f"deposit:{outpoint(txid, vout)}"


def mint_submission_key(operation_id: str) -> str:
    """``chain_submissions.idempotency_key`` of a deposit's one mint."""
    return f"mint:{operation_id}"
