"""Query strings: cursor pagination (``?limit=&cursor=`` in, ``{"items": [...], "nextCursor": ...}`` out),
and :class:`NoQuery` for routes that take none.

The cursor is the base64url (unpadded) JSON of the last item's sort key. It is opaque to
clients; a cursor that does not decode to a key of the right shape is a 400.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from shop.errors import BadRequest

T = TypeVar("T")

DEFAULT_LIMIT = 20
MAX_LIMIT = 100


class NoQuery(BaseModel):
    """The query string of a route that takes no parameters: any parameter is a 400."""

    model_config = ConfigDict(extra="forbid")


class PageQuery(BaseModel):
    """The paging part of a list route's query string; empty values count as absent."""

    model_config = ConfigDict(extra="forbid")

    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)
    cursor: str | None = Field(None, max_length=512)

    @field_validator("*", mode="before")
    @classmethod
    def _empty_is_absent(cls, value: Any) -> Any:
        return None if value == "" else value

    @field_validator("limit", mode="before")
    @classmethod
    def _default_limit(cls, value: Any) -> Any:
        return DEFAULT_LIMIT if value is None else value


def encode_cursor(key: list[Any]) -> str:
    """The opaque cursor for a sort key."""
    raw = json.dumps(key, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, types: tuple[type, ...]) -> list[Any]:
    """The sort key in ``cursor``, checked against the expected element ``types``."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        key = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise BadRequest("cursor is not valid", code="invalid_cursor") from exc
    if (
        not isinstance(key, list)
        or len(key) != len(types)
        or not all(isinstance(v, t) and not isinstance(v, bool) for v, t in zip(key, types, strict=True))
    ):
        raise BadRequest("cursor is not valid", code="invalid_cursor")
    return key


def after(fields: tuple[str, ...], key: list[Any]) -> dict[str, Any]:
    """A filter for the documents strictly after ``key`` in ascending ``fields`` order."""
    branches: list[dict[str, Any]] = []
    for i, name in enumerate(fields):
        branch = {fields[j]: key[j] for j in range(i)}
        branch[name] = {"$gt": key[i]}
        branches.append(branch)
    return branches[0] if len(branches) == 1 else {"$or": branches}


class Page(BaseModel, Generic[T]):
    """One page of a list: the items and the cursor of the next page (``null`` on the last one)."""

    items: list[T]
    nextCursor: str | None
