"""The FastAPI application: routers under ``/api``, OpenAPI at ``/docs`` and ``/redoc`` (served
offline, ``api/docs.py``), problem+json errors."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.routing import APIRoute

from api import metrics
from api.auth.cache import AuthCache
from api.auth.listener import AuthChangeListener
from api.auth.services import AuthServices
from api.docs import install_docs
from api.errors import install_error_handlers
from api.middleware import RequestContextMiddleware
from api.routers import (
    admin_audit_logs,
    admin_kyc,
    admin_ledger,
    admin_payouts,
    admin_system,
    admin_users,
    auth,
    deposits,
    kyc,
    operations,
    overview,
    reserves,
    system,
    system_info,
    tokens,
    users,
    withdrawals,
    ws,
)
from api.version import API_VERSION
from config.settings import Settings
from services.state import AppState


def _operation_id(route: APIRoute) -> str:
    tag = route.tags[0] if route.tags else "api"
    return f"{tag}-{route.name}"


def create_app(settings: Settings, state: AppState | None = None) -> FastAPI:
    """Build the app. ``state`` is injected by tests; otherwise it is built from ``settings``."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.custody = state or AppState.build(settings)
        listener = app.state.auth_listener  # read here: tests may swap it before startup
        if listener is not None:
            listener.start()
        try:
            yield
        finally:
            if listener is not None:
                await listener.close()
            if getattr(app.state, "operation_updates", None) is not None:
                await app.state.operation_updates.close()
            if state is None:
                await app.state.custody.close()

    app = FastAPI(
        title="Bitcoin custody engine",
        version=API_VERSION,
        description="Deposit BTC, receive iSTSi on Soroban; redeem iSTSi for BTC.",
        lifespan=lifespan,
        generate_unique_id_function=_operation_id,
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    install_docs(app, openapi_url="/openapi.json")
    api = APIRouter(prefix="/api")
    api.include_router(operations.status_router)  # first: the polling hot path (see its comment)
    api.include_router(system.router)
    for area in (auth, users, admin_users, admin_audit_logs, admin_ledger, kyc, admin_kyc):
        api.include_router(area.router)
    for oversight in (reserves.router, reserves.admin_router, admin_system.router, overview.router):
        api.include_router(oversight)
    api.include_router(withdrawals.router)  # before operations: its /{action} route would shadow ours
    api.include_router(admin_payouts.router)
    for area in (system_info, deposits, operations, tokens, ws):
        api.include_router(area.router)
    app.include_router(system.index_router)
    app.include_router(api)
    app.include_router(metrics.router)

    app.state.auth = AuthServices.from_settings(settings)
    # One cache and one listener per app (= per API process); see api/auth/cache.py.
    app.state.auth_cache = AuthCache(max_tokens=settings.auth.cache_max_tokens,
                                     max_accounts=settings.auth.cache_max_accounts)
    app.state.auth_listener = None
    if settings.auth.cache_max_tokens and settings.auth.cache_max_accounts:
        app.state.auth_listener = AuthChangeListener(settings.database.libpq_url(), app.state.auth_cache,
                                                     heartbeat_seconds=settings.auth.cache_heartbeat_seconds)
    install_error_handlers(app)
    if settings.cors.allow_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors.allow_origins,
            allow_methods=settings.cors.allow_methods,
            allow_headers=settings.cors.allow_headers,
            allow_credentials=settings.cors.allow_credentials,
            expose_headers=["X-Request-ID", "Retry-After"],
        )
    app.add_middleware(
        RequestContextMiddleware,
        body_limit_bytes=settings.server.body_limit_bytes,
        hsts=settings.server.hsts,
    )
    return app
