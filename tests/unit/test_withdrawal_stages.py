"""The stages a withdrawal shows for its payout item and at its end (``domain/withdrawal_stages.py``)."""

from __future__ import annotations

import pytest

from domain.operations import OperationStage, OperationStatus
from domain.withdrawal_stages import PayoutItemStatus, batch_stage, final_stage


@pytest.mark.parametrize(("item", "stage"), [
    ("queued", OperationStage.AWAITING_BATCH),
    ("awaiting_signature", OperationStage.SIGNING),
    ("signed", OperationStage.PAYING_OUT),
    ("broadcast", OperationStage.AWAITING_PAYOUT_CONFIRMATIONS),
    ("confirmed", OperationStage.AWAITING_BATCH),
    ("something_new", OperationStage.AWAITING_BATCH),
])
def test_batch_stage(item: str, stage: OperationStage) -> None:
    assert batch_stage(item) == stage


def test_item_statuses_keep_their_payload_values() -> None:
    assert [s.value for s in PayoutItemStatus] == [
        "queued", "awaiting_signature", "signed", "broadcast", "confirmed", "cancelled", "failed",
    ]


@pytest.mark.parametrize(("status", "stage"), [
    (OperationStatus.COMPLETED, OperationStage.COMPLETED),
    (OperationStatus.CANCELLED, OperationStage.CANCELLED),
    (OperationStatus.FAILED, OperationStage.FAILED),
])
def test_final_stage(status: OperationStatus, stage: OperationStage) -> None:
    assert final_stage(status) == stage
