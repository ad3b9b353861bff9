"""Structured logging for every process: JSON lines (or console text in development).

The request id of the current HTTP request rides on a context variable and is added to every line.
Formatters never see secrets because callers never log them; :data:`REDACT_KEYS` is the last line
of defence for ``extra=`` fields.
"""

from __future__ import annotations

import contextvars
import logging
import re
import sys

from pythonjsonlogger.json import JsonFormatter

from config.settings import LoggingSettings

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
REDACT_KEYS = frozenset({"password", "token", "authorization", "jwt_secret", "secret", "document_number"})
#: A token in a URL's query (the WebSocket's ``?token=``, which uvicorn logs with the path it
#: accepted; also ``access_token``, ``refresh_token`` …), any case.
_TOKEN_IN_QUERY = re.compile(r"([?&;#]\w*token=)[^&\s\"'#]+", re.IGNORECASE)


class _ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        for key in REDACT_KEYS & record.__dict__.keys():
            setattr(record, key, "[redacted]")
        # Redact the formatted message (a token may come through any argument, of any type).
        message = record.getMessage()
        if "token=" in message.lower():
            record.msg, record.args = _TOKEN_IN_QUERY.sub(r"\1[redacted]", message), None
        return True


def configure_logging(settings: LoggingSettings, *, service: str) -> None:
    """Route the root logger (and uvicorn's) to stdout in the configured format."""
    handler = logging.StreamHandler(sys.stdout)
    handler.addFilter(_ContextFilter())
    if settings.format == "json":
        handler.setFormatter(
            JsonFormatter(
                "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
                rename_fields={"asctime": "ts", "levelname": "level", "name": "logger"},
                static_fields={"service": service},
                timestamp=False,
            )
        )
    else:
        handler.setFormatter(
            logging.Formatter(f"%(asctime)s %(levelname)-7s {service} %(name)s [%(request_id)s] %(message)s")
        )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        uv = logging.getLogger(name)
        uv.handlers[:] = []
        uv.propagate = True
    # Our own access log carries the request id; uvicorn's would duplicate it without one.
    logging.getLogger("uvicorn.access").disabled = True
    # One INFO line per chain request drowns everything else; failures still log at WARNING.
    for chatty in ("httpx", "httpcore"):
        logging.getLogger(chatty).setLevel(max(root.level, logging.WARNING))
