"""The API skeleton over HTTP: health probes, problem+json, request ids, body limit."""

from __future__ import annotations

import httpx
from asgi_lifespan import LifespanManager
from fastapi import APIRouter
from pydantic import BaseModel

from api.app import create_app
from config.settings import Settings
from services.state import AppState


async def test_health_reports_every_dependency_ok(api_client: httpx.AsyncClient) -> None:
    resp = await api_client.get("/api/system/health")
    assert resp.status_code == 200
    body = resp.json()
    assert body["status"] == "ok"
    assert {name: d["status"] for name, d in body["dependencies"].items()} == {
        "database": "ok",
        "temporal": "ok",
        "bitcoin": "ok",
        "soroban": "ok",
    }


async def test_health_is_503_naming_the_database_when_it_is_unreachable_and_keeps_serving(
    settings: Settings, app_state: AppState
) -> None:
    # Port 1 on loopback: connection refused at once, like a stopped server.
    broken = settings.model_copy(
        update={"database": settings.database.model_copy(update={"url": "postgresql+psycopg://postgres@127.0.0.1:1/x"})}
    )
    state = AppState.build(broken, temporal_client=await app_state.temporal.client())
    app = create_app(broken, state=state)
    async with LifespanManager(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            for _ in range(2):  # a second request proves the process still serves
                resp = await client.get("/api/system/health")
                assert resp.status_code == 503
                deps = resp.json()["dependencies"]
                assert deps["database"]["status"] == "down"
                assert deps["temporal"]["status"] == "ok"
                assert "127.0.0.1:1" not in (deps["database"]["detail"] or "")
            assert (await client.get("/openapi.json")).status_code == 200
    await state.close()


async def test_unknown_route_is_problem_json(api_client: httpx.AsyncClient) -> None:
    resp = await api_client.get("/api/does-not-exist")
    assert resp.status_code == 404
    assert resp.headers["content-type"] == "application/problem+json"
    body = resp.json()
    assert body["code"] == "not_found" and body["status"] == 404 and body["request_id"]


async def test_every_response_carries_a_request_id_and_security_headers(api_client: httpx.AsyncClient) -> None:
    resp = await api_client.get("/api/system/health", headers={"X-Request-ID": "client-abc.1"})
    assert resp.headers["x-request-id"] == "client-abc.1"
    assert resp.headers["x-content-type-options"] == "nosniff"
    assert resp.headers["x-frame-options"] == "DENY"
    generated = await api_client.get("/api/system/health", headers={"X-Request-ID": "bad id with spaces"})
    assert generated.headers["x-request-id"] != "bad id with spaces"


class EchoBody(BaseModel):
    amount_sats: int
    password: str


def _app_with_test_routes(settings: Settings, state: AppState):
    router = APIRouter()

    @router.post("/api/_test/echo")
    async def echo(body: EchoBody) -> dict:
        return {"ok": True}

    @router.get("/api/_test/boom")
    async def boom() -> dict:
        raise RuntimeError("secret internals at /srv/app.py")

    app = create_app(settings, state=state)
    app.include_router(router)
    return app


async def test_validation_error_is_422_naming_fields_without_echoing_input(settings: Settings, app_state: AppState) -> None:
    app = _app_with_test_routes(settings, app_state)
    async with LifespanManager(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            resp = await client.post("/api/_test/echo", json={"amount_sats": "many", "password": "hunter2-secret"})
    assert resp.status_code == 422
    assert resp.headers["content-type"] == "application/problem+json"
    body = resp.json()
    assert body["code"] == "validation_error"
    assert [e["field"] for e in body["errors"]] == ["amount_sats"]
    assert "hunter2-secret" not in resp.text and "many" not in resp.text


async def test_unexpected_error_is_500_problem_without_internals(settings: Settings, app_state: AppState) -> None:
    app = _app_with_test_routes(settings, app_state)
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            resp = await client.get("/api/_test/boom")
    assert resp.status_code == 500
    assert resp.headers["content-type"] == "application/problem+json"
    assert resp.json()["code"] == "internal_error"
    assert "secret internals" not in resp.text and "RuntimeError" not in resp.text
    assert resp.headers["x-request-id"]


async def test_body_over_one_megabyte_is_413(api_client: httpx.AsyncClient) -> None:
    resp = await api_client.post("/api/system/health", content=b"x" * (1_048_576 + 1))
    assert resp.status_code == 413
    assert resp.json()["code"] == "payload_too_large"


async def test_openapi_is_served_with_operation_ids(api_client: httpx.AsyncClient) -> None:
    spec = (await api_client.get("/openapi.json")).json()
    assert spec["paths"]["/api/system/health"]["get"]["operationId"] == "system-health"


async def test_api_root_points_to_docs_and_health(api_client: httpx.AsyncClient) -> None:
    body = (await api_client.get("/api")).json()
    assert body["docs"] == "/docs" and body["health"] == "/api/system/health"
