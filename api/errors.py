"""Every error as RFC 9457 ``application/problem+json`` with a stable ``code``.

Exception tree::

    ApiError(code, status, detail)            raised by routers and dependencies
    DomainError (domain/, with a ``code``)    status from :data:`DOMAIN_STATUS`, else 422
    RequestValidationError                    422 validation_error; ``errors`` lists each field with a
                                              stable ``code`` (inputs never echoed)
    StarletteHTTPException                    its status, code from :data:`HTTP_CODES`
    anything else                             500 internal_error (no internals)
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from config.logging_setup import request_id_var
from domain.errors import DomainError

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

#: Status for each stable code raised by ``domain/`` or ``chains/`` (exceptions with a ``code``).
DOMAIN_STATUS: dict[str, int] = {
    "illegal_transition": 409,
    "email_taken": 409,
    "self_modification": 409,
    "system_paused": 503,
    "self_review": 403,
    "invalid_decision": 422,
}


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


def field_error(status: int, code: str, field: str, detail: str) -> ApiError:
    """An error about one field (shape of ``validation_error``'s ``errors``, with its own code)."""
    return ApiError(status, code, detail, extra={"errors": [{"field": field, "code": code, "message": detail}]})


def install_error_handlers(app: FastAPI) -> None:
    """Route every known exception type to problem+json; unknown ones are 500 in the middleware."""
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)

    app.add_exception_handler(DomainError, _domain_error)


async def _domain_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    return problem_response(DOMAIN_STATUS.get(exc.code, 422), exc.code, str(exc), request.url.path)
