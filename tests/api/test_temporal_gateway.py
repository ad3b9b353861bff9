"""The Temporal gateway maps the SDK's failures to domain errors, once (no server needed: a stub
client raises what the SDK raises)."""

from __future__ import annotations

from typing import Any

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from config.settings import TemporalSettings
from services.temporal_gateway import (
    TemporalGateway,
    TemporalUnavailable,
    UpdateRefused,
    WorkflowAlreadyClosed,
    WorkflowNotRunning,
)


class _Handle:
    def __init__(self, error: BaseException | None, result: Any = None) -> None:
        self.error, self.result = error, result

    async def _answer(self, *args: Any, **kwargs: Any) -> Any:
        if self.error is not None:
            raise self.error
        return self.result

    signal = execute_update = terminate = _answer


class _Client:
    def __init__(self, error: BaseException | None = None, result: Any = None) -> None:
        self.handle = _Handle(error, result)
        self.started: list[dict[str, Any]] = []

    def get_workflow_handle(self, workflow_id: str) -> _Handle:
        return self.handle

    async def start_workflow(self, run: Any, arg: Any, **kwargs: Any) -> None:
        self.started.append(kwargs)
        await self.handle._answer()


def _gateway(error: BaseException | None = None, result: Any = None) -> tuple[TemporalGateway, _Client]:
    client = _Client(error, result)
    return TemporalGateway(TemporalSettings(), client=client), client  # type: ignore[arg-type]


def _rpc(status: RPCStatusCode) -> RPCError:
    return RPCError("boom", status, b"")


@pytest.mark.parametrize("status", [RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.INTERNAL])
async def test_rpc_failures_are_unavailability(status: RPCStatusCode) -> None:
    gateway, _ = _gateway(_rpc(status))
    with pytest.raises(TemporalUnavailable) as down:
        await gateway.signal("wf", "retry", {})
    assert (down.value.code, str(down.value)) == ("temporal_unavailable", "the workflow service is unavailable; try again")


async def test_not_found_is_a_workflow_not_running_except_at_a_start() -> None:
    gateway, _ = _gateway(_rpc(RPCStatusCode.NOT_FOUND))
    with pytest.raises(WorkflowNotRunning):
        await gateway.update("wf", "decide", {}, update_id="u")
    with pytest.raises(TemporalUnavailable):  # at a start NOT_FOUND is the namespace: Temporal is not usable
        await gateway.start("Run", {}, workflow_id="wf", task_queue="q")
    await gateway.terminate("wf", reason="gone is fine")


async def test_a_refused_update_carries_the_failure() -> None:
    cause = ApplicationError("bad psbt", {"code": "duplicate_signature"}, type="invalid_signed_psbt")
    gateway, _ = _gateway(WorkflowUpdateFailedError(cause))
    with pytest.raises(UpdateRefused) as refused:
        await gateway.update("wf", "submit", {}, update_id="u")
    assert (refused.value.failure_type, refused.value.failure_message) == ("invalid_signed_psbt", "bad psbt")
    assert refused.value.details == ({"code": "duplicate_signature"},)


async def test_a_closed_run_refusing_a_start() -> None:
    gateway, _ = _gateway(WorkflowAlreadyStartedError("wf", "Run"))
    with pytest.raises(WorkflowAlreadyClosed):
        await gateway.start("Run", {}, workflow_id="wf", task_queue="q")


async def test_a_start_reuses_a_running_workflow_on_the_task_queue() -> None:
    gateway, client = _gateway(result=None)
    assert await gateway.start("Run", {}, workflow_id="wf", task_queue="q") == "wf"
    (kwargs,) = client.started
    assert (kwargs["id"], kwargs["task_queue"], kwargs["id_conflict_policy"].name) == ("wf", "q", "USE_EXISTING")


async def test_an_unreachable_temporal_is_unavailable() -> None:
    gateway = TemporalGateway(TemporalSettings(address="127.0.0.1:9"), connect_timeout_seconds=2)
    with pytest.raises(TemporalUnavailable):
        await gateway.signal("wf", "retry", {})
