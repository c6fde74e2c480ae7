"""Request bodies and queries of the catalog routes (unknown fields are rejected)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from shop.catalog.domain import normalise_category, normalise_sku
from shop.paging import PageQuery
from shop.text import OneLine, Paragraphs, PlainText

MAX_PRICE_CENTS = 100_000_000_00
MAX_STOCK = 1_000_000_000

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), OneLine]
Description = Annotated[str, StringConstraints(strip_whitespace=True, max_length=5000), Paragraphs]
Currency = Annotated[str, StringConstraints(strip_whitespace=True, to_upper=True, pattern=r"^[A-Za-z]{3}$")]
Sku = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
Category = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=60), OneLine]
Price = Annotated[int, Field(ge=0, le=MAX_PRICE_CENTS)]


ID_PATTERN = r"^[A-Za-z0-9_-]{1,100}$"


class ProductPath(BaseModel):
    """The ``{id}`` of /api/products/{id}."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=ID_PATTERN)


class ProductCreate(BaseModel):
    """POST /api/products."""

    model_config = ConfigDict(extra="forbid", strict=True)

    name: Name
    description: Description = ""
    priceCents: Price
    currency: Currency = "USD"
    sku: Sku
    stock: int = Field(0, ge=0, le=MAX_STOCK)
    category: Category
    active: bool = True

    @field_validator("sku")
    @classmethod
    def _sku(cls, value: str) -> str:
        return normalise_sku(value)

    @field_validator("category")
    @classmethod
    def _category(cls, value: str) -> str:
        return normalise_category(value)


class ProductUpdate(BaseModel):
    """PATCH /api/products/{id}: any non-empty subset of the product's fields except ``stock``."""

    model_config = ConfigDict(extra="forbid", strict=True)

    name: Name | None = None
    description: Description | None = None
    priceCents: Price | None = None
    currency: Currency | None = None
    sku: Sku | None = None
    category: Category | None = None
    active: bool | None = None

    @field_validator("sku")
    @classmethod
    def _sku(cls, value: str | None) -> str | None:
        return None if value is None else normalise_sku(value)

    @field_validator("category")
    @classmethod
    def _category(cls, value: str | None) -> str | None:
        return None if value is None else normalise_category(value)

    @model_validator(mode="after")
    def _some_fields_no_nulls(self) -> ProductUpdate:
        if not self.model_fields_set:
            raise ValueError("give at least one field to change")
        nulls = sorted(k for k in self.model_fields_set if getattr(self, k) is None)
        if nulls:
            raise ValueError(f"fields may not be null: {', '.join(nulls)}")
        return self

    def changes(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.model_fields_set}


class ProductListQuery(PageQuery):
    """GET /api/products."""

    search: PlainText | None = Field(None, max_length=100)
    category: PlainText | None = Field(None, max_length=60)
    minPriceCents: int | None = Field(None, ge=0, le=MAX_PRICE_CENTS)
    maxPriceCents: int | None = Field(None, ge=0, le=MAX_PRICE_CENTS)

    @model_validator(mode="after")
    def _range(self) -> ProductListQuery:
        low, high = self.minPriceCents, self.maxPriceCents
        if low is not None and high is not None and low > high:
            raise ValueError("minPriceCents must not be above maxPriceCents")
        return self
