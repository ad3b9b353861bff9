"""Translate stellar-sdk transport and JSON-RPC errors into the client's error tree."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from aiohttp import ServerDisconnectedError
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
        try:
            return await fn(*args, **kwargs)
        except ConnectionError as exc:
            if not _stale_connection(exc):
                raise
            # A pooled keep-alive connection the server closed while idle (its keep-alive timeout
            # and our reuse crossed): the request never reached the server, so send it once more
            # on a fresh connection. Every call here is safe to repeat (reads, and sendTransaction
            # with the same signed bytes, which the network answers DUPLICATE at worst).
            return await fn(*args, **kwargs)
    except SorobanRpcErrorResponse as exc:
        if exc.code in _CLIENT_ERRORS:
            raise SorobanError(f"RPC rejected request: {exc.code} {exc.message}") from exc
        raise SorobanUnavailable(f"RPC error {exc.code}: {exc.message}") from exc
    except (TimeoutError, ConnectionError, BadResponseError) as exc:
        raise SorobanUnavailable(f"RPC unavailable: {type(exc).__name__}") from exc
    except BadRequestError as exc:
        raise SorobanError(f"RPC rejected request: HTTP {exc.status}") from exc


def _stale_connection(exc: ConnectionError) -> bool:
    """Whether the SDK's ``ConnectionError`` is aiohttp's "Server disconnected" on a reused connection."""
    return isinstance(exc.__cause__, ServerDisconnectedError)
