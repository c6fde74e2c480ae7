"""The opaque list cursor of GET /api/orders (no services)."""

from __future__ import annotations

import uuid

import pytest

from shop.errors import BadRequest
from shop.orders.repository import decode_cursor, encode_cursor


def test_cursor_round_trip() -> None:
    """A cursor the API hands out decodes to the order id it points after."""
    order_id = str(uuid.uuid4())
    assert decode_cursor(encode_cursor(order_id)) == order_id


@pytest.mark.parametrize("cursor", ["%%%", "abc", "", encode_cursor("not-a-uuid")])
def test_foreign_cursors_are_400(cursor: str) -> None:
    """Anything the API did not hand out is a 400, never a 500 or a silent empty page."""
    with pytest.raises(BadRequest):
        decode_cursor(cursor)
