"""Every error as RFC 9457 ``application/problem+json`` with a stable ``code``.

Exception tree::

    DomainError (domain/, services/)          status from :data:`DOMAIN_STATUS` by its ``code`` (422 for
                                              an unlisted code, and for every ``InvalidField``); its
                                              ``extra`` joins the body
    ApiError(status, code, detail)            HTTP-only refusals of the API itself (authentication,
                                              roles, rate limits, cursors), with their headers
    RequestValidationError                    422 validation_error; ``errors`` lists each field with a
                                              stable ``code`` (inputs never echoed)
    StarletteHTTPException                    its status, code from :data:`HTTP_CODES`
    anything else                             500 internal_error (no internals)

Services raise domain errors and never name a status: which status a code answers is decided
here, in :data:`DOMAIN_STATUS`, for every code the services and ``domain/`` raise.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from config.logging_setup import request_id_var
from domain.errors import DomainError, InvalidField

log = logging.getLogger(__name__)
PROBLEM_JSON = "application/problem+json"

HTTP_CODES: dict[int, str] = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    500: "internal_error",
    503: "service_unavailable",
}

#: The HTTP status of each stable code a domain error carries (docs/DESIGN.md §7): the one table.
DOMAIN_STATUS: dict[str, int] = {
    # 403: the caller may not do this (role checks are ApiErrors of api/auth)
    "self_review": 403,
    "self_approval": 403,
    "insufficient_kyc_tier": 403,
    "limit_exceeded": 403,
    # 404: absent, or not the caller's
    "not_found": 404,
    "operation_not_found": 404,
    "user_not_found": 404,
    "payout_not_found": 404,
    "kyc_record_not_found": 404,
    "outpoint_not_found": 404,
    "no_proof": 404,
    # 409: the state forbids it, or it was done already
    "conflict": 409,
    "illegal_transition": 409,
    "illegal_kyc_transition": 409,
    "email_taken": 409,
    "stellar_address_taken": 409,
    "self_modification": 409,
    "idempotency_key_reused": 409,
    "too_many_unconfirmed_claims": 409,
    "stellar_address_required": 409,
    "stellar_account_not_found": 409,
    "allowance_required": 409,
    "insufficient_balance": 409,
    "not_awaiting_approval": 409,
    "not_cancellable": 409,
    "not_awaiting_signature": 409,
    "duplicate_signature": 409,
    "signer_already_signed": 409,
    "payout_settled": 409,
    "payout_not_broadcast": 409,
    "not_unattributed": 409,
    "kyc_already_pending": 409,
    "kyc_record_not_pending": 409,
    "not_awaiting_decision": 409,
    "not_needing_attention": 409,
    "workflow_not_running": 409,
    "workflow_already_closed": 409,
    "update_refused": 409,
    # 422: the request is refused as it is (field errors are always 422)
    "refused": 422,
    "invalid_decision": 422,
    "below_minimum": 422,
    "amount_below_minimum": 422,
    "no_deposit_address": 422,
    "asap_not_offered": 422,
    "custody_address": 422,
    "stellar_address_missing": 422,
    "invalid_signed_psbt": 422,
    "fee_rate_above_cap": 422,
    "unknown_account_code": 422,
    "filter_required": 422,
    # 503: a dependency is down, or the system is paused: the same request may succeed later
    "service_unavailable": 503,
    "system_paused": 503,
    "temporal_unavailable": 503,
    "chain_unavailable": 503,
    "soroban_unavailable": 503,
}


def domain_status(exc: DomainError) -> int:
    """The status ``exc`` answers: a field error's is 422 (the ``validation_error`` shape), any
    other's comes from :data:`DOMAIN_STATUS` (422 for a code not listed there)."""
    if isinstance(exc, InvalidField):
        return 422
    return DOMAIN_STATUS.get(exc.code, 422)


class ApiError(Exception):
    """An error with an HTTP meaning: ``code`` is stable, ``detail`` is for people."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str | None = None,
        *,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ):
        super().__init__(detail or code)
        self.status = status
        self.code = code
        self.detail = detail
        self.headers = headers or {}
        self.extra = extra or {}


def problem_body(status: int, code: str, detail: str | None, path: str, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": f"urn:custody:error:{code}",
        "title": code.replace("_", " ").capitalize(),
        "status": status,
        "code": code,
        "instance": path,
        "request_id": request_id_var.get(),
    }
    if detail:
        body["detail"] = detail
    body.update(extra)
    return body


def problem_response(
    status: int,
    code: str,
    detail: str | None,
    path: str,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    return JSONResponse(
        problem_body(status, code, detail, path, **extra),
        status_code=status,
        media_type=PROBLEM_JSON,
        headers=headers,
    )


async def _api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return problem_response(exc.status, exc.code, exc.detail, request.url.path, exc.headers, **exc.extra)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = HTTP_CODES.get(exc.status_code, "http_error")
    detail = exc.detail if isinstance(exc.detail, str) else None
    return problem_response(exc.status_code, code, detail, request.url.path, dict(exc.headers or {}))


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"field": ".".join(str(p) for p in err["loc"] if p != "body"), "code": error_code(err["type"]),
         "message": err["msg"]}
        for err in exc.errors()
    ]
    fields = ", ".join(e["field"] for e in errors if e["field"])
    return problem_response(
        422, "validation_error", f"invalid input: {fields}" if fields else "invalid input",
        request.url.path, errors=errors,
    )


#: Stable codes for pydantic's error types that clients meet most; other types pass through as
#: they are (pydantic documents them), and the engine's own validators raise their own codes
#: (``amount_not_integer``, ``amount_out_of_range``, ``country_unknown``…).
_PYDANTIC_CODES = {"missing": "field_required", "extra_forbidden": "field_not_allowed"}


def error_code(pydantic_type: str) -> str:
    """The stable ``code`` of one field error."""
    return _PYDANTIC_CODES.get(pydantic_type, pydantic_type)


def install_error_handlers(app: FastAPI) -> None:
    """Route every known exception type to problem+json; unknown ones are 500 in the middleware."""
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)

    app.add_exception_handler(DomainError, _domain_error)


async def _domain_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    extra = getattr(exc, "extra", None) or {}  # a subclass that skipped DomainError.__init__ has none
    return problem_response(domain_status(exc), exc.code, str(exc), request.url.path, **extra)
