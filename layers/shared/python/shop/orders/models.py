"""Request bodies and queries of the order routes (unknown fields are rejected), and the timeline."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, RootModel, StringConstraints, field_validator

from shop.orders.domain import STATUSES

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]

MAX_LINES = 50
MAX_QUANTITY = 1000


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class OrderLine(_Strict):
    productId: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
    quantity: int = Field(ge=1, le=MAX_QUANTITY, strict=True)


class ShippingAddress(_Strict):
    line1: Text
    line2: Text | None = None
    city: Text
    postalCode: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20)]
    country: Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=56)]


class CreateOrder(_Strict):
    items: list[OrderLine] = Field(min_length=1, max_length=MAX_LINES)
    shippingAddress: ShippingAddress
    paymentToken: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128)] | None = None

    @field_validator("items")
    @classmethod
    def _distinct_products(cls, items: list[OrderLine]) -> list[OrderLine]:
        seen: set[str] = set()
        for line in items:
            if line.productId in seen:
                raise ValueError(f"product {line.productId} is listed twice; send one line per product")
            seen.add(line.productId)
        return items


class StatusChange(_Strict):
    status: str

    @field_validator("status")
    @classmethod
    def _known(cls, value: str) -> str:
        if value not in STATUSES:
            raise ValueError(f"status must be one of {', '.join(STATUSES)}")
        return value


class CancelOrder(_Strict):
    reason: Text | None = None


class ListOrders(_Strict):
    status: str | None = None
    limit: int = Field(default=20, ge=1, le=100)
    cursor: Annotated[str, StringConstraints(max_length=200)] | None = None

    @field_validator("status")
    @classmethod
    def _known(cls, value: str | None) -> str | None:
        if value is not None and value not in STATUSES:
            raise ValueError(f"status must be one of {', '.join(STATUSES)}")
        return value


IdempotencyKey = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]


class IdempotencyHeader(_Strict):
    key: IdempotencyKey


class TimelineEntry(BaseModel):
    """One business event of an order: what happened, when, and its facts (nothing internal)."""

    type: str
    at: str
    data: dict[str, Any]


class Timeline(RootModel[list[TimelineEntry]]):
    """GET /api/orders/{id}/timeline: the order's business events in time order."""
