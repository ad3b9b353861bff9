"""Domain rules inside pydantic validators: a broken rule becomes a field error (422 naming the
field), not an exception escaping validation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from domain.errors import DomainError

T = TypeVar("T")


def apply_rule(rule: Callable[..., T], value: Any, **kwargs: Any) -> T:
    """``rule(value, **kwargs)``, with :class:`DomainError` turned into ``ValueError`` for pydantic."""
    try:
        return rule(value, **kwargs)
    except DomainError as exc:
        raise ValueError(str(exc)) from None
