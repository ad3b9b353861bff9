"""Keyset ("seek") paging, newest first, over ``(created_at, id)``.

Offsets skip rows when new ones arrive and get slower with depth; a keyset position does neither.
``id`` breaks ties between rows written in the same microsecond.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Select, tuple_

T = TypeVar("T", bound=tuple[Any, ...])


@dataclass(frozen=True)
class Position:
    """Where a page ended: the last row's ``created_at`` and ``id``."""

    created_at: datetime
    id: uuid.UUID


def newest_first(stmt: Select[T], *, created_at: Any, id_: Any, after: Position | None, limit: int) -> Select[T]:
    """Order ``stmt`` newest first, start after ``after``, and fetch ``limit + 1`` rows.

    The extra row tells the caller whether another page exists (see ``api.pagination``).
    """
    if after is not None:
        stmt = stmt.where(tuple_(created_at, id_) < tuple_(after.created_at, after.id))
    return stmt.order_by(created_at.desc(), id_.desc()).limit(limit + 1)
