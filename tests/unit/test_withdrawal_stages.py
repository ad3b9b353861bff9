"""The stages a withdrawal shows for its payout item and at its end (``domain/withdrawal_stages.py``)."""

from __future__ import annotations

import pytest

from domain.operations import OperationStage, OperationStatus
from domain.payout_steering import PayoutStatus
from domain.withdrawal_stages import (
    PAYOUT_ENDED,
    PayoutItemStatus,
    PayoutStage,
    batch_stage,
    final_stage,
)


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


def test_payout_stage_and_status_values_stay_what_histories_and_the_ui_show() -> None:
    assert [s.value for s in PayoutStage] == [
        "signing", "paying_out", "awaiting_payout_confirmations", "bumping", "settling", "confirmed", "abandoned",
    ]
    assert {"confirmed", "abandoned"} == PAYOUT_ENDED
    assert "signed" not in PAYOUT_ENDED and PayoutStatus.AWAITING_SIGNATURE == "awaiting_signature"
