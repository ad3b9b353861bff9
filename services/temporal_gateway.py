"""The API process's one way to Temporal: connect, start, signal, update, terminate, ping.

One client per API process, connected lazily so the API can start (and answer 503) while
Temporal is down; the client must stay on the app's event loop (sdk-python#147).

Every call maps Temporal's failures to domain errors here, once:

* cannot connect, ``RPCError`` (any status but NOT_FOUND), an update RPC that timed out
  → :class:`TemporalUnavailable` (``temporal_unavailable``);
* NOT_FOUND on a signal, update or terminate → :class:`WorkflowNotRunning`;
* a start that the id reuse policy refuses (a closed run holds the id) → :class:`WorkflowAlreadyClosed`;
* an update whose handler or validator failed → :class:`UpdateRefused` (with the failure's type,
  message and details, so the service can say which rule refused).

Starts reuse a running workflow with the same id (``USE_EXISTING``): every workflow id is
deterministic, so starting again after a failed or doubtful start is safe.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

from temporalio.client import (
    Client,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.common import (
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from config.settings import TemporalSettings
from domain.errors import Conflict, Unavailable

UNAVAILABLE_DETAIL = "the workflow service is unavailable; try again"


class TemporalUnavailable(Unavailable):
    """Temporal cannot be reached or did not answer; the same call may succeed later."""

    code = "temporal_unavailable"

    def __init__(self, message: str = UNAVAILABLE_DETAIL) -> None:
        super().__init__(message)


class WorkflowNotRunning(Conflict):
    """No workflow with the id is running (a signal, update or terminate found none)."""

    code = "workflow_not_running"


class WorkflowAlreadyClosed(Conflict):
    """A start was refused: a closed run holds the id and the reuse policy forbids a new one."""

    code = "workflow_already_closed"


class UpdateRefused(Conflict):
    """The workflow refused an update (its validator or handler raised).

    Attributes:
        failure_message: the failure's message ("" when it has none).
        failure_type: the ``ApplicationError`` type the workflow raised (None for other failures).
        details: the failure's details (an empty tuple when none).
    """

    code = "update_refused"

    def __init__(self, message: str, *, failure_type: str | None, details: Sequence[Any]) -> None:
        super().__init__(message or "the workflow refused the update")
        self.failure_message = message
        self.failure_type = failure_type
        self.details = tuple(details)

    @classmethod
    def of(cls, exc: WorkflowUpdateFailedError) -> UpdateRefused:
        """The refusal that ``exc`` (the SDK's error) reports."""
        cause = exc.cause
        return cls(
            str(getattr(cause, "message", "") or ""),
            failure_type=getattr(cause, "type", None),
            details=list(getattr(cause, "details", ()) or ()),
        )


class TemporalGateway:
    """Connects on first use and reuses the client; a failed connect is retried on the next call.

    Args:
        settings: address and namespace (task queues are the caller's, per start).
        client: an already connected client (tests); otherwise one is connected lazily.
        connect_timeout_seconds: how long a connect or health check may take.
    """

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
        """Round-trip to the frontend.

        Raises:
            TemporalUnavailable: no connection, or the health check failed.
        """
        client = await self.client()
        try:
            await asyncio.wait_for(client.service_client.check_health(), timeout=self.connect_timeout_seconds)
        except Exception as exc:
            raise TemporalUnavailable(f"Temporal health check failed: {type(exc).__name__}") from exc

    async def start(
        self,
        run: Callable[..., Any] | str,
        arg: Any,
        *,
        workflow_id: str,
        task_queue: str,
        search_attributes: TypedSearchAttributes | None = None,
        reuse_closed: WorkflowIDReusePolicy = WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        start_signal: str | None = None,
        start_signal_args: Sequence[Any] = (),
        static_summary: str | None = None,
    ) -> str:
        """Start ``run(arg)`` as ``workflow_id`` on ``task_queue``, or reuse the running one; returns the id.

        Args:
            run: the workflow's run method (or its registered name).
            task_queue: the settings' (``AppState.settings.temporal.task_queue``), read per call so
                a process's settings decide it, not the gateway's.
            reuse_closed: whether a closed run with the id allows a new one (Temporal's reuse policy).
            start_signal: a signal sent with the start (delivered to a running workflow as well).

        Raises:
            TemporalUnavailable: Temporal is down or refused the call.
            WorkflowAlreadyClosed: a closed run holds the id and ``reuse_closed`` forbids a new one.
        """
        async with self._mapped(not_found_means_absent=False):
            client = await self.client()
            await client.start_workflow(
                run, arg, id=workflow_id, task_queue=task_queue,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING, id_reuse_policy=reuse_closed,
                search_attributes=search_attributes, start_signal=start_signal,
                start_signal_args=list(start_signal_args), static_summary=static_summary,
            )
        return workflow_id

    async def call(self, start: Callable[[Client], Any]) -> Any:
        """Run ``start(client)`` (a starter shared with the workers, e.g. the deposit's) under the
        same error mapping as :meth:`start`; returns what it returns.

        Raises:
            TemporalUnavailable: Temporal is down or refused the call.
        """
        async with self._mapped(not_found_means_absent=False):
            return await start(await self.client())

    async def signal(self, workflow_id: str, signal: Callable[..., Any] | str, arg: Any) -> None:
        """Send ``signal(arg)`` to the running workflow ``workflow_id``.

        Raises:
            TemporalUnavailable: Temporal is down.
            WorkflowNotRunning: no such workflow runs.
        """
        async with self._mapped():
            handle = (await self.client()).get_workflow_handle(workflow_id)
            await handle.signal(signal, arg)

    async def update(
        self, workflow_id: str, update: Any, arg: Any, *, update_id: str,
        result_type: type | None = None,
    ) -> Any:
        """Run the update ``update(arg)`` on ``workflow_id`` and return its result.

        ``update`` is the workflow's update method (or its name); ``result_type`` is needed only
        when it is named by a string.

        Raises:
            TemporalUnavailable: Temporal is down, or the update's RPC timed out.
            WorkflowNotRunning: no such workflow runs.
            UpdateRefused: the workflow's validator or handler refused it.
        """
        async with self._mapped():
            handle = (await self.client()).get_workflow_handle(workflow_id)
            if result_type is None:
                return await handle.execute_update(update, arg, id=update_id)
            return await handle.execute_update(update, arg, id=update_id, result_type=result_type)

    async def terminate(self, workflow_id: str, *, reason: str) -> None:
        """Terminate the workflow ``workflow_id``; one that is not running is fine.

        Raises:
            TemporalUnavailable: Temporal is down.
        """
        try:
            async with self._mapped():
                await (await self.client()).get_workflow_handle(workflow_id).terminate(reason=reason)
        except WorkflowNotRunning:
            pass

    @asynccontextmanager
    async def _mapped(self, *, not_found_means_absent: bool = True) -> AsyncIterator[None]:
        """Translate the SDK's errors to this module's (the one place that does)."""
        try:
            yield
        except WorkflowAlreadyStartedError as exc:
            raise WorkflowAlreadyClosed("a closed run holds this workflow id") from exc
        except WorkflowUpdateFailedError as exc:
            raise UpdateRefused.of(exc) from exc
        except WorkflowUpdateRPCTimeoutOrCancelledError as exc:
            raise TemporalUnavailable() from exc
        except RPCError as exc:
            if not_found_means_absent and exc.status == RPCStatusCode.NOT_FOUND:
                raise WorkflowNotRunning("the workflow is not running") from exc
            raise TemporalUnavailable() from exc
