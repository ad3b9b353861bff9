"""The one error table: every code the services raise answers its status from ``api/errors.py``,
and the merged error classes keep each endpoint's code."""

from __future__ import annotations

import pytest

from api.errors import DOMAIN_STATUS, domain_status
from domain import deposits, kyc, withdrawals
from domain.amounts import BelowMinimum
from domain.decisions import DecisionKind, InvalidDecision
from domain.errors import Conflict, DomainError, InvalidField, NotFound, Refused, Unavailable
from services.temporal_gateway import TemporalUnavailable, UpdateRefused, WorkflowAlreadyClosed, WorkflowNotRunning


def test_every_status_is_one_design_names() -> None:
    assert set(DOMAIN_STATUS.values()) <= {403, 404, 409, 422, 503}  # docs/DESIGN.md §7


@pytest.mark.parametrize(("error", "status"), [
    (NotFound("x", code="operation_not_found"), 404),
    (Conflict("x", code="idempotency_key_reused"), 409),
    (Conflict("x", code="stellar_address_required"), 409),  # a withdrawal without a Stellar address
    (Refused("x", code="insufficient_kyc_tier"), 403),
    (Refused("x", code="custody_address", extra={"field": "btc_address"}), 422),
    (Unavailable("x", code="chain_unavailable"), 503),
    (TemporalUnavailable(), 503),
    (WorkflowNotRunning(), 409),
    (WorkflowAlreadyClosed(), 409),
    (UpdateRefused("", failure_type=None, details=()), 409),
    (withdrawals.InsufficientBalance("x"), 409),
    (kyc.SelfReview("x"), 403),
    (DomainError("x", code="a_code_nobody_listed"), 422),
])
def test_status_of_a_code(error: DomainError, status: int) -> None:
    assert domain_status(error) == status


def test_a_field_error_is_422_whatever_its_code_elsewhere() -> None:
    # the KYC submission without a Stellar address names the field; the withdrawal's is a 409
    error = InvalidField("stellar_address_required", "stellar_address", "set it first")
    assert domain_status(error) == 422
    assert error.extra == {"errors": [{"field": "stellar_address", "code": "stellar_address_required",
                                       "message": "set it first"}]}


def test_extra_members_are_kept_and_the_message_defaults_to_the_code() -> None:
    error = Conflict(code="too_many_unconfirmed_claims", extra={"limit": 3})
    assert (str(error), error.code, error.extra) == ("too_many_unconfirmed_claims", "too_many_unconfirmed_claims",
                                                     {"limit": 3})


def test_below_minimum_is_one_class_with_each_endpoints_code() -> None:
    assert deposits.BelowMinimum is withdrawals.BelowMinimum is BelowMinimum
    deposits.check_minimum(10_000, 10_000)
    with pytest.raises(BelowMinimum) as deposit:
        deposits.check_minimum(9_999, 10_000)
    assert deposit.value.code == "below_minimum"
    withdrawals.check_request(amount_sats=30_000, minimum_sats=30_000, token_address=None, istsi_token="C")
    with pytest.raises(BelowMinimum) as withdrawal:
        withdrawals.check_request(amount_sats=29_999, minimum_sats=30_000, token_address=None, istsi_token="C")
    assert withdrawal.value.code == "amount_below_minimum"
    assert domain_status(deposit.value) == domain_status(withdrawal.value) == 422


def test_decisions_are_one_vocabulary() -> None:
    assert kyc.DecisionKind is withdrawals.DecisionKind is DecisionKind
    assert kyc.InvalidDecision is withdrawals.InvalidDecision is InvalidDecision
    assert [k.value for k in DecisionKind] == ["approve", "reject"]  # payload values stay
