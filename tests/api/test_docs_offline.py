"""``/docs`` and ``/redoc`` work with no internet: every URL they load is the app's own and is
served, and (when Chromium is installed) Swagger UI really renders the operations in headless
Chromium with every non-loopback host unresolvable.

Manual check on a machine without Chromium: start ``make dev`` with the network cable out (or in
a network namespace with only ``lo``), open http://127.0.0.1:8080/docs and see the operations
listed; the browser's network panel shows requests to 127.0.0.1 only.
"""

from __future__ import annotations

import re
import shutil
import subprocess

import httpx
import pytest

URL_ATTRIBUTES = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']""")
SPEC_URL = re.compile(r"""url:\s*['"]([^'"]+)['"]|spec-url=["']([^"']+)["']""")


def _urls(html: str) -> list[str]:
    found = URL_ATTRIBUTES.findall(html)
    found += [a or b for a, b in SPEC_URL.findall(html)]
    return found


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_docs_pages_reference_only_local_urls_and_each_is_served(api_client: httpx.AsyncClient, page: str) -> None:
    response = await api_client.get(page)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    urls = _urls(response.text)
    assert urls, "the page loads no assets?"
    assert "/openapi.json" in urls
    for url in urls:
        assert url.startswith("/") and not url.startswith("//"), f"{page} loads {url} from outside the app"
        asset = await api_client.get(url)
        assert asset.status_code == 200, url
        assert len(asset.content) > 100, url
    assert "validator.swagger.io" not in response.text
    assert "fonts.googleapis.com" not in response.text


async def test_swagger_ui_validator_badge_is_off(api_client: httpx.AsyncClient) -> None:
    html = (await api_client.get("/docs")).text
    assert '"validatorUrl": null' in html


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.mark.skipif(_chromium() is None, reason="Chromium is not installed (apt-get install chromium); see the module "
                    "docstring for the manual check")
def test_docs_render_in_headless_chromium_without_network(served_api: str, tmp_path) -> None:
    command = [
        _chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={tmp_path}",
        # no internet: every host but the loopback address fails to resolve
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
        "--virtual-time-budget=20000", "--dump-dom", f"{served_api}/docs",
    ]
    dom = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False).stdout
    assert "swagger-ui" in dom, dom[:500]
    assert "opblock" in dom, "Swagger UI did not render any operation"  # one block per operation
    assert "/api/integration/bitcoin-deposit" in dom
