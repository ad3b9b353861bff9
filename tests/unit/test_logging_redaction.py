"""Log lines never carry a bearer token (config/logging_setup.py): not as an ``extra=`` field,
and not in a URL's query, as uvicorn logs an accepted WebSocket (``/api/ws?token=…``)."""

from __future__ import annotations

import io
import logging

import pytest

from config.logging_setup import configure_logging
from config.settings import LoggingSettings

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch):
    out = io.StringIO()
    monkeypatch.setattr("sys.stdout", out)
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    configure_logging(LoggingSettings(level="INFO", format="console"), service="test")
    yield out
    root.handlers[:], level = saved
    root.setLevel(level)


def test_a_websocket_url_logged_by_uvicorn_has_its_token_redacted(captured: io.StringIO) -> None:
    # uvicorn's own format and arguments (its logger's state is left to the tests that run uvicorn)
    logging.getLogger("custody.test.uvicorn").info('%s - "WebSocket %s" [accepted]', "127.0.0.1:5000",
                                                   f"/api/ws?token={JWT}&x=1")
    line = captured.getvalue()
    assert JWT not in line and "/api/ws?token=[redacted]&x=1" in line


def test_a_token_in_the_message_itself_or_a_placeholder_is_redacted_and_the_line_kept(captured: io.StringIO) -> None:
    log = logging.getLogger("custody.test")
    log.info(f"GET /x?access_token={JWT}")
    log.info("GET /ws?Token=%s&n=%d", JWT, 3)
    log.info("refresh at %(url)s", {"url": f"/auth?refresh_token={JWT}"})
    out = captured.getvalue()
    assert JWT not in out
    assert "access_token=[redacted]" in out and "Token=[redacted]&n=3" in out and "refresh_token=[redacted]" in out


def test_an_extra_field_named_token_is_redacted_in_json_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    out = io.StringIO()
    monkeypatch.setattr("sys.stdout", out)
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        configure_logging(LoggingSettings(level="INFO", format="json"), service="test")
        logging.getLogger("custody.test").info("signed in", extra={"token": JWT})
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
    assert JWT not in out.getvalue() and '"token": "[redacted]"' in out.getvalue()


def test_other_lines_are_left_alone(captured: io.StringIO) -> None:
    logging.getLogger("custody.test").info("deposit %s credited %d sats", "op-1", 5_000)
    assert "deposit op-1 credited 5000 sats" in captured.getvalue()
