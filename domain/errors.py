"""Base of every business-rule error. ``code`` is stable (API clients and Temporal error types
match on it); the HTTP status for a code lives in ``api/errors.py`` (one table), never here.

Exception tree (the kinds a caller may catch; the status still comes from the code)::

    CodedError (code, message)  also the base of ChainError (chains.bitcoin.errors) and PayoutError
     └── DomainError (extra)
          ├── Refused              a request a rule refuses (code given at the raise)
          │    └── InvalidField    ... because of one input field (``errors`` names it)
          ├── NotFound             the thing asked about is absent (or not the caller's)
          ├── Conflict             the thing is in a state that forbids the request
          └── Unavailable          a dependency (Temporal, a chain source) is down: try again
"""

from __future__ import annotations

from typing import Any


class CodedError(Exception):
    """An error with a stable ``code``. Subclasses set a class-level ``code`` (snake_case).

    Args:
        message: for people; defaults to the code.
        code: overrides the class's code for this raise.
    """

    code: str = "error"

    def __init__(self, message: str | None = None, *, code: str | None = None) -> None:
        if code is not None:
            self.code = code
        super().__init__(message or self.code)


class DomainError(CodedError):
    """A rule was broken.

    Args:
        message: for people (the problem's ``detail``); defaults to the code.
        code: overrides the class's code for this raise.
        extra: members added to the problem body as they are (e.g. ``{"limit": 3}``); stable
            like the code, clients read them.
    """

    code = "domain_error"

    def __init__(self, message: str | None = None, *, code: str | None = None, extra: dict[str, Any] | None = None):
        super().__init__(message, code=code)
        self.extra: dict[str, Any] = dict(extra or {})


class Refused(DomainError):
    """A request that a rule refuses; the code says which rule."""

    code = "refused"


class InvalidField(Refused):
    """A request refused because of one of its fields (the ``validation_error`` body shape:
    ``errors`` lists the field with this code and message).

    Args:
        code: the stable code, also the field error's code.
        field: the field's path in the request (``btc_amount``, ``verification_data.country``).
        message: for people.
        extra: further body members.
    """

    def __init__(self, code: str, field: str, message: str, *, extra: dict[str, Any] | None = None):
        errors = [{"field": field, "code": code, "message": message}]
        super().__init__(message, code=code, extra={"errors": errors, **(extra or {})})
        self.field = field


class NotFound(DomainError):
    """What the request names is absent, or not the caller's to see."""

    code = "not_found"


class Conflict(DomainError):
    """What the request names is in a state that forbids the request (or it was done already)."""

    code = "conflict"


class Unavailable(DomainError):
    """A dependency the request needs is down; the same request may succeed later."""

    code = "service_unavailable"
