"""The scripted journey runs on a stack of its own: it checks that reserves, supply and balances
agree *exactly*, which the session stack (where other tests mint and burn outside the engine on
purpose) cannot promise."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="package")
async def journey_stack(temporal_env, tmp_path_factory):
    from tests.fixtures.stack import isolated_stack

    async with isolated_stack(temporal_env, tmp_path_factory) as built:
        yield built


@pytest.fixture(scope="package")
def journey_api(journey_stack):
    """The journey stack's API over real HTTP (uvicorn in its own thread), for the WebSocket."""
    from api.app import create_app
    from tests.fixtures.chains import serve_in_thread, stop

    served = serve_in_thread(create_app(journey_stack.settings), ready_path="/openapi.json")
    yield served.url
    stop(served)
