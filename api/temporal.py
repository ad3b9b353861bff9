"""One Temporal client per API process, connected lazily so the API can start (and report 503)
while Temporal is down. The client must stay on the app's event loop (sdk-python#147)."""

from __future__ import annotations

import asyncio

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from config.settings import TemporalSettings


class TemporalUnavailable(Exception):
    code = "temporal_unavailable"


class TemporalGateway:
    """Connects on first use and reuses the client; a failed connect is retried on the next call."""

    def __init__(
        self, settings: TemporalSettings, *, client: Client | None = None, connect_timeout_seconds: float = 3.0
    ):
        self.settings = settings
        self.connect_timeout_seconds = connect_timeout_seconds
        self._client = client
        self._lock = asyncio.Lock()

    async def client(self) -> Client:
        """The connected client.

        Raises:
            TemporalUnavailable: the frontend did not answer within the connect timeout.
        """
        if self._client is not None:
            return self._client
        async with self._lock:
            if self._client is None:
                try:
                    self._client = await asyncio.wait_for(
                        Client.connect(
                            self.settings.address,
                            namespace=self.settings.namespace,
                            data_converter=pydantic_data_converter,
                        ),
                        timeout=self.connect_timeout_seconds,
                    )
                except Exception as exc:  # connection refused, timeout, TLS: all mean "down"
                    raise TemporalUnavailable(f"cannot reach Temporal: {type(exc).__name__}") from exc
        return self._client

    async def ping(self) -> None:
        """Round-trip to the frontend. Raises TemporalUnavailable."""
        client = await self.client()
        try:
            await asyncio.wait_for(client.service_client.check_health(), timeout=self.connect_timeout_seconds)
        except Exception as exc:
            raise TemporalUnavailable(f"Temporal health check failed: {type(exc).__name__}") from exc
