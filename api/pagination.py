"""Cursor pagination for every list endpoint: ``?limit=&cursor=``, newest first (docs/DESIGN.md §7).

The cursor is opaque to clients (base64url of the last row's position); they pass back the
``next_cursor`` of a page to get the next one, which is ``null`` on the last page.

Usage in a router::

    async def list_things(page: PageDep, session: SessionDep) -> CursorPage[ThingOut]:
        rows = await things.list_page(session, after=page.after, limit=page.limit)
        return build_page(rows, page, ThingOut.of)
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, Query
from pydantic import BaseModel

from api.errors import ApiError
from db.queries.keyset import Position

T = TypeVar("T")
R = TypeVar("R")
DEFAULT_LIMIT = 50
MAX_LIMIT = 100


class CursorPage(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None
    """Pass as ``cursor`` to get the next page; ``null`` when this is the last one."""


def encode_cursor(position: Position) -> str:
    raw = json.dumps({"t": position.created_at.isoformat(), "id": str(position.id)}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> Position:
    """The position inside ``cursor``.

    Raises:
        ApiError: 422 ``invalid_cursor`` when the cursor was not made by :func:`encode_cursor`.
    """
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
        created_at = datetime.fromisoformat(data["t"])
        if created_at.tzinfo is None:
            raise ValueError("naive timestamp")
        return Position(created_at=created_at, id=uuid.UUID(data["id"]))
    except (binascii.Error, ValueError, TypeError, KeyError, UnicodeDecodeError):
        raise ApiError(422, "invalid_cursor", "cursor is not one this API returned") from None


@dataclass(frozen=True)
class PageParams:
    limit: int
    after: Position | None


def page_params(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Items per page")] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=512, description="next_cursor of the previous page")] = None,
) -> PageParams:
    return PageParams(limit=limit, after=decode_cursor(cursor) if cursor else None)


PageDep = Annotated[PageParams, Depends(page_params)]


def _position_of(row: Any) -> Position:
    return Position(created_at=row.created_at, id=row.id)


def build_page(
    rows: Sequence[R],
    page: PageParams,
    item: Callable[[R], T],
    position: Callable[[R], Position] = _position_of,
) -> CursorPage[T]:
    """Turn ``limit + 1`` fetched rows into a page; the extra row only says that more exist."""
    shown = rows[: page.limit]
    more = len(rows) > page.limit
    return CursorPage(
        items=[item(r) for r in shown],
        next_cursor=encode_cursor(position(shown[-1])) if more and shown else None,
    )


def encode_seq_cursor(seq: int) -> str:
    """Cursor of a journal position (lists of ledger transfers page by ``seq``)."""
    return base64.urlsafe_b64encode(json.dumps({"seq": seq}).encode()).decode().rstrip("=")


def decode_seq_cursor(cursor: str) -> int:
    """Raises ApiError 422 ``invalid_cursor`` when the cursor was not made by :func:`encode_seq_cursor`."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        seq = json.loads(base64.urlsafe_b64decode(padded.encode()))["seq"]
        if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
            raise ValueError("bad seq")
        return seq
    except (binascii.Error, ValueError, TypeError, KeyError, UnicodeDecodeError):
        raise ApiError(422, "invalid_cursor", "cursor is not one this API returned") from None
