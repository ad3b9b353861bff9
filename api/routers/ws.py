"""``/api/ws``: a user's live operation updates over a WebSocket.

Authenticate with the access token in the ``token`` query parameter, or as the first message
``{"type": "auth", "token": "..."}`` (within 10 s). A bad or missing token closes the socket with
1008 (policy violation). Then:

* ``{"type": "subscribe"}`` (optionally ``"operation_id"``) → ``{"type": "subscribed"}``; from then
  on every status or stage change of the caller's operations arrives as
  ``{"type": "operation_update", "operation": {...}}``. Users never see each other's updates.
* ``{"type": "ping"}`` → ``{"type": "pong"}``.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect, status

from api.auth.dependencies import principal_for_token
from api.errors import ApiError
from services.operation_updates import OperationUpdates

router = APIRouter(tags=["ws"])
AUTH_TIMEOUT_SECONDS = 10.0


def updates_hub(websocket: WebSocket) -> OperationUpdates:
    """The process's listener, created on first use (it needs the app's event loop)."""
    app_state = websocket.app.state
    if getattr(app_state, "operation_updates", None) is None:
        app_state.operation_updates = OperationUpdates(app_state.custody.settings.database.libpq_url())
    return app_state.operation_updates


@router.websocket("/ws")
async def operation_updates(websocket: WebSocket, token: str | None = None) -> None:
    await websocket.accept()
    user_id = await _authenticate(websocket, token)
    if user_id is None:
        await websocket.close(code=status.WS_1008_POLICY_VIOLATION, reason="authentication failed")
        return
    await websocket.send_json({"type": "authenticated", "user_id": user_id})
    hub = updates_hub(websocket)
    queue = await hub.subscribe(user_id)
    session = _Session(websocket)
    pump = asyncio.create_task(session.pump(queue))
    try:
        while True:
            message = await websocket.receive_json()
            await session.handle(message)
    except (WebSocketDisconnect, ValueError):
        pass
    finally:
        hub.unsubscribe(user_id, queue)
        pump.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await pump


async def _authenticate(websocket: WebSocket, token: str | None) -> str | None:
    """The user id behind the token, or None."""
    if token is None:
        try:
            first = await asyncio.wait_for(websocket.receive_json(), timeout=AUTH_TIMEOUT_SECONDS)
        except (TimeoutError, WebSocketDisconnect, ValueError):
            return None
        token = first.get("token") if isinstance(first, dict) and first.get("type") == "auth" else None
        if not isinstance(token, str):
            return None
    state = websocket.app.state
    try:
        async with state.custody.sessions() as session:
            principal = await principal_for_token(token, session, state.auth)
    except ApiError:
        return None
    return str(principal.user.id)


class _Session:
    """One socket's subscription state; sends are serialised (pump and replies share the socket)."""

    def __init__(self, websocket: WebSocket) -> None:
        self.websocket = websocket
        self.subscribed = False
        self.only: str | None = None
        self._send_lock = asyncio.Lock()

    async def send(self, message: dict[str, Any]) -> None:
        async with self._send_lock:
            await self.websocket.send_json(message)

    async def handle(self, message: Any) -> None:
        kind = message.get("type") if isinstance(message, dict) else None
        if kind == "ping":
            await self.send({"type": "pong"})
        elif kind == "subscribe":
            self.subscribed, self.only = True, message.get("operation_id")
            await self.send({"type": "subscribed", "operation_id": self.only})
        elif kind == "unsubscribe":
            self.subscribed = False
            await self.send({"type": "unsubscribed"})
        else:
            await self.send({"type": "error", "code": "unknown_message"})

    async def pump(self, queue: asyncio.Queue[dict[str, Any]]) -> None:
        while True:
            update = await queue.get()
            if self.subscribed and (self.only is None or self.only == update.get("id")):
                await self.send({"type": "operation_update", "operation": update})
