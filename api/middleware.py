"""ASGI middleware: request id, access log, body limit, security headers, last-resort 500.

Written as plain ASGI (not ``BaseHTTPMiddleware``) so streaming bodies and WebSockets pass through
untouched and the request id context variable is visible to handlers.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import PROBLEM_JSON, problem_body
from config.logging_setup import request_id_var

log = logging.getLogger("custody.access")
_CLIENT_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class BodyTooLarge(Exception):
    pass


class RequestContextMiddleware:
    """Tags each request with ``X-Request-ID``, logs one access line, enforces the body limit,
    adds security headers, and turns an unhandled exception into a problem+json 500."""

    def __init__(self, app: ASGIApp, *, body_limit_bytes: int, hsts: bool):
        self.app = app
        self.body_limit_bytes = body_limit_bytes
        self.security_headers = [
            (b"x-content-type-options", b"nosniff"),
            (b"x-frame-options", b"DENY"),
            (b"referrer-policy", b"no-referrer"),
        ]
        if hsts:
            self.security_headers.append((b"strict-transport-security", b"max-age=63072000; includeSubDomains"))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        supplied = headers.get(b"x-request-id", b"").decode("latin-1")
        request_id = supplied if _CLIENT_REQUEST_ID.match(supplied) else uuid.uuid4().hex
        token = request_id_var.set(request_id)
        try:
            if scope["type"] == "websocket":
                await self.app(scope, receive, send)
                return
            await self._http(scope, receive, send, headers, request_id)
        finally:
            request_id_var.reset(token)

    async def _http(self, scope: Scope, receive: Receive, send: Send, headers: dict, request_id: str) -> None:
        started = time.perf_counter()
        state: dict[str, Any] = {"status": 500, "started": False}
        path = scope.get("path", "")

        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.body_limit_bytes:
            await self._problem(send, 413, "payload_too_large", "request body exceeds the limit", path, request_id)
            self._log(scope, 413, started)
            return

        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.body_limit_bytes:
                    raise BodyTooLarge
            return message

        async def tagged_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                state["status"] = message["status"]
                state["started"] = True
                message["headers"] = [
                    *message.get("headers", []),
                    (b"x-request-id", request_id.encode()),
                    *self.security_headers,
                ]
            await send(message)

        try:
            await self.app(scope, limited_receive, tagged_send)
        except BodyTooLarge:
            if not state["started"]:
                await self._problem(send, 413, "payload_too_large", "request body exceeds the limit", path, request_id)
            state["status"] = 413
        except Exception:
            log.exception("unhandled error", extra={"path": path})
            if not state["started"]:
                await self._problem(send, 500, "internal_error", "an internal error occurred", path, request_id)
            state["status"] = 500
        self._log(scope, state["status"], started)

    async def _problem(self, send: Send, status: int, code: str, detail: str, path: str, request_id: str) -> None:
        body = json.dumps(problem_body(status, code, detail, path)).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", PROBLEM_JSON.encode()),
                    (b"content-length", str(len(body)).encode()),
                    (b"x-request-id", request_id.encode()),
                    *self.security_headers,
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    @staticmethod
    def _log(scope: Scope, status: int, started: float) -> None:
        log.info(
            "%s %s %s",
            scope.get("method"),
            scope.get("path"),
            status,
            extra={
                "method": scope.get("method"),
                "path": scope.get("path"),
                "status": status,
                "duration_ms": round((time.perf_counter() - started) * 1000, 2),
            },
        )
