"""Request bodies and queries of the order routes (unknown fields are rejected), and the timeline."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel, StringConstraints, field_validator
from pydantic_core import PydanticCustomError

from shop.catalog.models import ID_PATTERN
from shop.fields import Stripped, WholeNumber
from shop.paging import Page
from shop.text import LINE_NOT_BLANK, OneLine

OrderStatus = Literal["pending", "paid", "processing", "shipped", "delivered", "cancelled"]
PaymentStatus = Literal["pending", "paid", "failed", "refunded"]

Text = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=LINE_NOT_BLANK), OneLine, Stripped]

Token = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=LINE_NOT_BLANK), OneLine, Stripped]

MAX_LINES = 50
MAX_QUANTITY = 1000


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OrderLine(_Strict):
    productId: Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=LINE_NOT_BLANK), OneLine, Stripped]
    quantity: Annotated[int, Field(ge=1, le=MAX_QUANTITY, strict=True), WholeNumber]


class ShippingAddress(_Strict):
    line1: Text
    line2: Text | None = None
    city: Text
    postalCode: Annotated[str, StringConstraints(min_length=1, max_length=20, pattern=LINE_NOT_BLANK), OneLine,
                          Stripped]
    country: Annotated[str, StringConstraints(min_length=2, max_length=56, pattern=LINE_NOT_BLANK), OneLine, Stripped]


class CreateOrder(_Strict):
    items: list[OrderLine] = Field(min_length=1, max_length=MAX_LINES)
    shippingAddress: ShippingAddress
    paymentToken: Token | None = None

    @field_validator("items")
    @classmethod
    def _distinct_products(cls, items: list[OrderLine]) -> list[OrderLine]:
        seen: set[str] = set()
        for line in items:
            if line.productId in seen:
                # A rule JSON Schema cannot state (``uniqueItems`` compares whole lines), so it has its own type.
                raise PydanticCustomError("duplicate_product",
                                          "product {product} is listed twice; send one line per product",
                                          {"product": line.productId})
            seen.add(line.productId)
        return items


class StatusChange(_Strict):
    status: OrderStatus


class OrderPath(_Strict):
    """The ``{id}`` of /api/orders/{id} and its sub-routes."""

    id: str = Field(pattern=ID_PATTERN)


class CancelOrder(_Strict):
    reason: Text | None = None


class ListOrders(_Strict):
    status: OrderStatus | None = None
    limit: int = Field(default=20, ge=1, le=100)
    cursor: Annotated[str, StringConstraints(max_length=200)] | None = None


IdempotencyKey = Annotated[str, StringConstraints(min_length=1, max_length=255, pattern=LINE_NOT_BLANK), OneLine,
                           Stripped]


class IdempotencyHeader(_Strict):
    """The optional ``Idempotency-Key`` header of POST /api/orders: a retry with the same key is safe."""

    key: IdempotencyKey | None = Field(None, alias="Idempotency-Key")


class OrderItem(BaseModel):
    """One priced line of an order (prices come from the catalog)."""

    productId: str
    sku: str
    name: str
    unitPriceCents: int
    quantity: int


class Order(BaseModel):
    """An order as the API shows it (no idempotency or payment bookkeeping)."""

    id: str
    buyerId: str
    items: list[OrderItem]
    subtotalCents: int
    taxCents: int
    totalCents: int
    currency: str
    status: OrderStatus
    paymentStatus: PaymentStatus
    shippingAddress: ShippingAddress
    cancelReason: str | None = None
    cancelledAt: str | None = None
    createdAt: str
    updatedAt: str


class OrderPage(Page[Order]):
    """GET /api/orders."""


class AdminStats(BaseModel):
    """GET /api/admin/stats: order counts by status, revenue in minor units, and the low-stock count."""

    ordersByStatus: dict[OrderStatus, int]
    totalOrders: int
    revenueCents: int
    revenueByCurrency: dict[str, int]
    lowStockCount: int
    lowStockThreshold: int


class TimelineEntry(BaseModel):
    """One business event of an order: what happened, when, and its facts (nothing internal)."""

    type: str
    at: str
    data: dict[str, Any]


class Timeline(RootModel[list[TimelineEntry]]):
    """GET /api/orders/{id}/timeline: the order's business events in time order."""
