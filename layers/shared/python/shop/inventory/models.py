"""Request bodies and queries of the inventory routes, and the order-event payloads it consumes."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from shop.fields import WholeNumber, omittable
from shop.paging import Page, PageQuery
from shop.text import LINE, OneLine

# Ids become keys of the ``holds``/``committed`` maps, so no dots or dollars.
ID_PATTERN = r"^[A-Za-z0-9_-]{1,100}$"
MAX_STOCK = 1_000_000_000


class InventoryPath(BaseModel):
    """The ``{productId}`` of /api/inventory/{productId}."""

    model_config = ConfigDict(extra="forbid")

    productId: str = Field(pattern=ID_PATTERN)


class AdjustBody(BaseModel):
    """PATCH /api/inventory/{productId}: exactly one of ``delta`` (restock/write-off) or ``stock``."""

    # The document says what the validator below enforces: one of the two, non-null, delta not 0.
    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra={
        "oneOf": [{"required": ["delta"]}, {"required": ["stock"]}],
    })

    delta: Annotated[int, Field(ge=-MAX_STOCK, le=MAX_STOCK, json_schema_extra={"not": {"const": 0}}),
                     WholeNumber] | None = omittable()
    stock: Annotated[int, Field(ge=0, le=MAX_STOCK), WholeNumber] | None = omittable()
    note: Annotated[str, StringConstraints(max_length=200, pattern=LINE), OneLine] | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> AdjustBody:
        given = self.model_fields_set & {"delta", "stock"}
        if len(given) != 1 or (self.delta is None) == (self.stock is None):
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


class InventoryRecord(BaseModel):
    """One product's stock figures: ``available`` = ``stock`` - ``reserved``; ``sold`` left the shelf."""

    productId: str
    sku: str
    stock: int
    reserved: int
    available: int
    sold: int
    updatedAt: str


class InventoryPage(Page[InventoryRecord]):
    """GET /api/inventory."""
