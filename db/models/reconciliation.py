"""``reconciliation_runs`` and their ``reconciliation_discrepancies`` (issue 9, docs/DESIGN.md §5)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, Column, ForeignKey, Index, Integer, text
from sqlalchemy.dialects.postgresql import UUID
from sqlmodel import Field, SQLModel

from db.models.base import jsonb, sats, timestamptz, uuid_pk, varchar


def _run_fk() -> Any:
    """``run_id UUID NOT NULL REFERENCES reconciliation_runs(id) ON DELETE CASCADE``, indexed: the
    rows a run found are read by run and go with it."""
    return Field(
        sa_column=Column(UUID(as_uuid=True), ForeignKey("reconciliation_runs.id", ondelete="CASCADE"), nullable=False, index=True)
    )


class ReconciliationRun(SQLModel, table=True):
    __tablename__ = "reconciliation_runs"
    __table_args__ = (Index("ix_reconciliation_runs_started", text("started_at DESC")),)

    id: uuid.UUID = uuid_pk()
    workflow_id: str | None = varchar()
    status: str = varchar(nullable=False, default="running")
    """``running`` → ``completed`` (or ``failed``)."""
    btc_height: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    stellar_ledger: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    figures: dict[str, Any] | None = jsonb()
    """Every compared total, satoshis (``utxo_total_sats``, ``chain_reserves_sats`` …)."""
    users_checked: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default=text("0")))
    max_severity: str = varchar(nullable=False, default="none")
    """Worst severity found (:class:`domain.reserves.Severity`)."""
    paused: bool = Field(default=False, sa_column=Column(Boolean, nullable=False, server_default=text("false")))
    """True when this run triggered the emergency pause."""
    started_at: datetime = timestamptz()
    finished_at: datetime | None = timestamptz(nullable=True, default_now=False)


class ReconciliationDiscrepancy(SQLModel, table=True):
    __tablename__ = "reconciliation_discrepancies"

    id: uuid.UUID = uuid_pk()
    run_id: uuid.UUID = _run_fk()
    check_name: str = varchar(nullable=False)
    """``utxos_vs_reserve_manager``, ``utxos_vs_database``, ``supply_vs_balances`` or ``user_balance``."""
    user_id: uuid.UUID | None = Field(default=None, sa_column=Column(UUID(as_uuid=True), nullable=True))
    expected_sats: int = sats()
    """The reference figure (the chain's, where one side is the chain)."""
    actual_sats: int = sats()
    diff_sats: int = sats()
    """``actual - expected`` (signed), satoshis."""
    diff_bps: int = sats()
    """``|diff|`` relative to ``expected`` in bps (:func:`domain.reserves.discrepancy_bps`)."""
    severity: str = varchar(nullable=False)
    created_at: datetime = timestamptz()


class ReconciliationItem(SQLModel, table=True):
    """Money in flight a run found and explained (why a difference is not a discrepancy)."""

    __tablename__ = "reconciliation_items"

    id: uuid.UUID = uuid_pk()
    run_id: uuid.UUID = _run_fk()
    kind: str = varchar(nullable=False)
    """:class:`domain.reconciliation.ItemKind` (``deposit_in_flight``, ``payout_in_flight`` …)."""
    reference: str = varchar(nullable=False)
    """What the item is: an operation id, an outpoint, a user id."""
    amount_sats: int = sats()
    """Satoshis (or base units) the item explains; signed as the difference it explains."""
    detail: str | None = varchar()
    created_at: datetime = timestamptz()
