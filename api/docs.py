"""The API's own documentation, served offline: Swagger UI at ``/docs`` and ReDoc at ``/redoc``
from assets packaged in the ``fastapi-offline`` wheel (Swagger UI 5, ReDoc 2), never from a CDN.

Custody deployments are often air-gapped, so every URL these pages load is one of this app's
own (``/docs/assets/…``, ``/openapi.json``); Swagger UI's online validator badge is switched off
and ReDoc does not load Google fonts. ``tests/api/test_docs_offline.py`` checks both, and renders
``/docs`` in headless Chromium with the network cut off when Chromium is installed.
"""

from __future__ import annotations

from importlib import resources

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS_URL = "/docs/assets"
#: Swagger UI options: no call to validator.swagger.io, the operations' ids shown.
SWAGGER_UI_PARAMETERS = {"validatorUrl": None, "displayOperationId": True, "tryItOutEnabled": False}


def assets_dir() -> str:
    """The packaged static files (``swagger-ui-bundle.js``, ``swagger-ui.css``, ``redoc.standalone.js``)."""
    return str(resources.files("fastapi_offline").joinpath("static"))


def install_docs(app: FastAPI, *, openapi_url: str = "/openapi.json") -> None:
    """Serve ``/docs``, ``/redoc`` and their assets; the app must be built with ``docs_url=None``
    and ``redoc_url=None``."""
    app.mount(ASSETS_URL, StaticFiles(directory=assets_dir()), name="docs-assets")
    title = app.title

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url, title=f"{title} — API documentation",
            swagger_js_url=f"{ASSETS_URL}/swagger-ui-bundle.js", swagger_css_url=f"{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS_URL}/favicon.png", swagger_ui_parameters=SWAGGER_UI_PARAMETERS,
        )

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url=openapi_url, title=f"{title} — API reference", redoc_js_url=f"{ASSETS_URL}/redoc.standalone.js",
            redoc_favicon_url=f"{ASSETS_URL}/favicon.png", with_google_fonts=False,
        )
