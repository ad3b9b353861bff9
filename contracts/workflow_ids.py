"""Deterministic workflow ids, schedule ids and idempotency keys (docs/DESIGN.md §5), shared by
``api/``, ``workers/``, ``workflows/`` and ``activities/``: every id is built here, nowhere else.

A deposit is keyed by its outpoint (``txid:vout``), never by txid alone (docs/DESIGN.md §6): the same
outpoint always maps to the same workflow id and the same Postgres key, whoever starts it (the
API, the detection scan, an operator).
"""

from __future__ import annotations

import re
import uuid

from domain.errors import DomainError

_TXID = re.compile(r"^[0-9a-f]{64}$")
#: Highest output index we accept (Bitcoin's consensus limit on outputs is far lower).
MAX_VOUT = 2**32 - 1
DEPOSIT_SCAN_SCHEDULE_ID = "deposit-scan"
PROOF_SCHEDULE_ID = "reserve-proof"
RECONCILIATION_SCHEDULE_ID = "reconciliation"
#: The singleton event monitor (continue-as-new keeps the id).
EVENT_MONITOR_ID = "event-monitor"


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


def withdrawal_workflow_id(operation_id: str | uuid.UUID) -> str:
    """``withdrawal-<operation id>`` (docs/DESIGN.md §5)."""
    return f"withdrawal-{operation_id}"


def payout_workflow_id(payout_id: str | uuid.UUID) -> str:
    """``payout-<payout id>`` (one batch transaction and its versions)."""
    return f"payout-{payout_id}"


def kyc_workflow_id(user_id: str | uuid.UUID, record_id: str | uuid.UUID) -> str:
    """``kyc-<user id>-<record id>`` (docs/DESIGN.md §5)."""
    return f"kyc-{user_id}-{record_id}"


def proof_workflow_id(proof_id: object) -> str:
    """``reserve-proof-<proof id>`` of an on-demand proof of reserves."""
    return f"reserve-proof-{proof_id}"


def chain_pause_workflow_id(audit_id: str | uuid.UUID) -> str:
    """``chain-pause-<audit row id>``: one router pause or resume per admin request."""
    return f"chain-pause-{audit_id}"
