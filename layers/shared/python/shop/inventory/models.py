"""Request bodies and queries of the inventory routes, and the order-event payloads it consumes."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from shop.paging import PageQuery
from shop.text import PlainText

# Ids become keys of the ``holds``/``committed`` maps, so no dots or dollars.
ID_PATTERN = r"^[A-Za-z0-9_-]{1,100}$"
MAX_STOCK = 1_000_000_000


class InventoryPath(BaseModel):
    """The ``{productId}`` of /api/inventory/{productId}."""

    model_config = ConfigDict(extra="forbid")

    productId: str = Field(pattern=ID_PATTERN)


class AdjustBody(BaseModel):
    """PATCH /api/inventory/{productId}: exactly one of ``delta`` (restock/write-off) or ``stock``."""

    model_config = ConfigDict(extra="forbid", strict=True)

    delta: int | None = Field(None, ge=-MAX_STOCK, le=MAX_STOCK)
    stock: int | None = Field(None, ge=0, le=MAX_STOCK)
    note: PlainText | None = Field(None, max_length=200)

    @model_validator(mode="after")
    def _exactly_one(self) -> AdjustBody:
        if (self.delta is None) == (self.stock is None):
            raise ValueError("give exactly one of delta or stock")
        if self.delta == 0:
            raise ValueError("delta must not be 0")
        return self


class InventoryListQuery(PageQuery):
    """GET /api/inventory."""

    lowStock: bool = False

    @field_validator("lowStock", mode="before")
    @classmethod
    def _absent_is_false(cls, value: Any) -> Any:
        return False if value is None else value


class OrderLine(BaseModel):
    """One line of an order event (other fields, such as the price, are ignored)."""

    model_config = ConfigDict(extra="ignore")

    productId: str = Field(pattern=ID_PATTERN)
    quantity: int = Field(ge=1, le=MAX_STOCK)


class OrderEventData(BaseModel):
    """The part of ``order.created`` / ``order.cancelled`` / ``order.delivered`` inventory reads."""

    model_config = ConfigDict(extra="ignore")

    orderId: str = Field(pattern=ID_PATTERN)
    items: list[OrderLine] = Field(default_factory=list, max_length=500)
