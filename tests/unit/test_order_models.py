"""Order request validation (pydantic models, no services)."""

from __future__ import annotations

import pytest

from shop.errors import BadRequest
from shop.http import validate
from shop.orders.models import CancelOrder, CreateOrder, ListOrders, StatusChange

ADDRESS = {"line1": "1 Main St", "city": "Springfield", "postalCode": "12345", "country": "US"}


def test_valid_body() -> None:
    """A well-formed order body validates."""
    body = validate(CreateOrder, {"items": [{"productId": "p", "quantity": 2}], "shippingAddress": ADDRESS})
    assert body.items[0].quantity == 2 and body.paymentToken is None


@pytest.mark.parametrize("payload", [
    {"items": [], "shippingAddress": ADDRESS},
    {"items": [{"productId": "p", "quantity": 0}], "shippingAddress": ADDRESS},
    {"items": [{"productId": "p", "quantity": "2"}], "shippingAddress": ADDRESS},
    {"items": [{"productId": "p", "quantity": 1, "priceCents": 1}], "shippingAddress": ADDRESS},
    {"items": [{"productId": "p", "quantity": 1}, {"productId": "p", "quantity": 1}], "shippingAddress": ADDRESS},
    {"items": [{"productId": "p", "quantity": 1}], "shippingAddress": {"line1": "x"}},
    {"items": [{"productId": "p", "quantity": 1}], "shippingAddress": ADDRESS, "totalCents": 1},
])
def test_invalid_bodies_are_400(payload: dict) -> None:
    """Empty, negative, client-priced, duplicated or incomplete bodies are rejected."""
    with pytest.raises(BadRequest):
        validate(CreateOrder, payload)


def test_status_and_query_models() -> None:
    """Unknown statuses and out-of-range limits are 400s; defaults apply."""
    assert validate(StatusChange, {"status": "shipped"}).status == "shipped"
    with pytest.raises(BadRequest):
        validate(StatusChange, {"status": "lost"})
    assert validate(ListOrders, {}).limit == 20
    assert validate(ListOrders, {"limit": "100"}).limit == 100
    with pytest.raises(BadRequest):
        validate(ListOrders, {"limit": "101"})
    with pytest.raises(BadRequest):
        validate(ListOrders, {"status": "nope"})
    assert validate(CancelOrder, {}).reason is None
