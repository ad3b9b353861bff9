"""The amount type of every request body: strict whole satoshis within Bitcoin's supply.

``15000.0``, ``"15000"``, ``true``, ``0`` and ``2100000000000001`` are 422 with the field named and
a code (``amount_not_integer`` or ``amount_out_of_range``); the rule is ``domain.amounts``.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, Field
from pydantic_core import PydanticCustomError

from domain.amounts import MAX_SATS, MIN_SATS, AmountNotInteger, AmountOutOfRange, check_sats


def _strict_sats(value: Any) -> int:
    try:
        return check_sats(value)
    except (AmountNotInteger, AmountOutOfRange) as exc:
        raise PydanticCustomError(exc.code, str(exc)) from None


def Sats(description: str) -> Any:  # noqa: N802 (a type alias with a description)
    """``int`` in ``1..2_100_000_000_000_000``, refusing anything that is not a JSON integer."""
    return Annotated[int, Field(ge=MIN_SATS, le=MAX_SATS, description=description), BeforeValidator(_strict_sats)]
