"""A pause is committed before the router's workflow starts: when Temporal is down the engine's
flags are changed anyway (503 says so) and repeating the request starts the router's change."""

from __future__ import annotations

import pytest

from db.queries.system_state import get_pause, set_pause
from domain.pause import PauseState
from domain.roles import Role
from tests.api.temporal_down import temporal_down


@pytest.mark.usefixtures("custody_worker")  # the router's changes run now, not in a later test
async def test_the_engine_pauses_at_once_and_the_repeat_starts_the_router_change(
    api_client, app_state, make_user, sessions, temporal_client,
) -> None:
    admin = await make_user(Role.ADMIN)
    try:
        with temporal_down(app_state):
            down = await api_client.post("/api/admin/system/pause", json={"reason": "drill 7"}, headers=admin.headers)
        assert (down.status_code, down.json()["code"]) == (503, "temporal_unavailable"), down.text
        async with sessions() as s:
            assert await get_pause(s) == PauseState(True, True, "drill 7")  # the engine refuses money at once
        again = await api_client.post("/api/admin/system/pause", json={"reason": "drill 7"}, headers=admin.headers)
        assert again.status_code == 200, again.text
        await temporal_client.get_workflow_handle(again.json()["chain_workflow_id"]).result()
    finally:
        resumed = await api_client.post("/api/admin/system/resume", headers=admin.headers)
        assert resumed.status_code == 200, resumed.text
        await temporal_client.get_workflow_handle(resumed.json()["chain_workflow_id"]).result()
    async with sessions() as s:
        assert await get_pause(s) == PauseState()


async def test_a_resume_whose_start_fails_changes_nothing(api_client, app_state, make_user, sessions) -> None:
    """A resume starts the router's change before it commits: with Temporal down the engine stays
    paused with the router, instead of running against a router that is still paused."""
    admin = await make_user(Role.ADMIN)
    async with sessions() as s, s.begin():
        await set_pause(s, state=PauseState(True, True, "drill"), actor_id=None)
    try:
        with temporal_down(app_state):
            resumed = await api_client.post("/api/admin/system/resume", headers=admin.headers)
        assert (resumed.status_code, resumed.json()["code"]) == (503, "temporal_unavailable"), resumed.text
        async with sessions() as s:
            assert (await get_pause(s)) == PauseState(True, True, "drill")  # nothing changed
    finally:
        async with sessions() as s, s.begin():
            await set_pause(s, state=PauseState(), actor_id=None)
