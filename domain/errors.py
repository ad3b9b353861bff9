"""Base of every business-rule error. ``code`` is stable (API clients and Temporal error types
match on it); the HTTP status for a code lives in ``api/errors.py``, never here."""

from __future__ import annotations


class DomainError(Exception):
    """A rule was broken. Subclasses set a class-level ``code`` (snake_case)."""

    code: str = "domain_error"

    def __init__(self, message: str | None = None, *, code: str | None = None):
        super().__init__(message or self.code)
        if code is not None:
            self.code = code
