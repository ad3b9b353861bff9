"""``POST /api/integration/token-withdrawal``'s ``priority`` is ``domain.withdrawals.PayoutPriority``:
``batch`` by default, ``asap`` on request, nothing else, and the OpenAPI schema lists those values."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from api.schemas.withdrawals import WithdrawalRequest
from domain.withdrawals import PayoutPriority

BODY = {"token_amount": 50_000, "btc_address": "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080"}


def test_priority_defaults_to_batch() -> None:
    assert WithdrawalRequest.model_validate(BODY).priority is PayoutPriority.BATCH


@pytest.mark.parametrize("value", ["batch", "asap"])
def test_each_priority_is_read_as_the_enum(value: str) -> None:
    request = WithdrawalRequest.model_validate_json(json.dumps({**BODY, "priority": value}))
    assert request.priority is PayoutPriority(value)


@pytest.mark.parametrize("value", ["ASAP", "now", "", None, 1])
def test_any_other_priority_is_refused(value: object) -> None:
    with pytest.raises(ValidationError) as refused:
        WithdrawalRequest.model_validate({**BODY, "priority": value})
    assert refused.value.errors()[0]["loc"] == ("priority",)


def test_the_schema_lists_the_enum_values_and_the_default() -> None:
    schema = WithdrawalRequest.model_json_schema()
    assert schema["properties"]["priority"]["default"] == "batch"
    assert schema["$defs"]["PayoutPriority"]["enum"] == ["batch", "asap"] == [p.value for p in PayoutPriority]
