"""Translate stellar-sdk transport and JSON-RPC errors into the client's error tree."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from stellar_sdk.exceptions import BadRequestError, BadResponseError, ConnectionError, SorobanRpcErrorResponse

from chains.soroban.errors import SorobanError, SorobanUnavailable

R = TypeVar("R")
# JSON-RPC errors caused by the request itself; anything else is the server's trouble.
_CLIENT_ERRORS = {-32600, -32601, -32602, -32700}


async def rpc_call(fn: Callable[..., Awaitable[R]], *args, **kwargs) -> R:
    """Await one SDK call, mapping failures.

    Raises:
        SorobanUnavailable: connection error, timeout, 5xx or a server-side JSON-RPC error.
        SorobanError: the server rejected the request as invalid (not retry-safe).
    """
    try:
        return await fn(*args, **kwargs)
    except SorobanRpcErrorResponse as exc:
        if exc.code in _CLIENT_ERRORS:
            raise SorobanError(f"RPC rejected request: {exc.code} {exc.message}") from exc
        raise SorobanUnavailable(f"RPC error {exc.code}: {exc.message}") from exc
    except (TimeoutError, ConnectionError, BadResponseError) as exc:
        raise SorobanUnavailable(f"RPC unavailable: {type(exc).__name__}") from exc
    except BadRequestError as exc:
        raise SorobanError(f"RPC rejected request: HTTP {exc.status}") from exc
