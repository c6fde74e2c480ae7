"""Request bodies and queries of the catalog routes (unknown fields are rejected)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from shop.catalog import images
from shop.catalog.domain import normalise_category, normalise_sku
from shop.fields import WHITESPACE, Stripped, WholeNumber, omittable
from shop.paging import Page, PageQuery
from shop.text import LINE, LINE_NOT_BLANK, PARAGRAPHS, OneLine, Paragraphs

MAX_PRICE_CENTS = 100_000_000_00
MAX_STOCK = 1_000_000_000

Name = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=LINE_NOT_BLANK), OneLine, Stripped]
Description = Annotated[str, StringConstraints(max_length=5000, pattern=PARAGRAPHS), Paragraphs, Stripped]
# Surrounding whitespace is allowed (and removed) in codes, so the patterns say so.
Currency = Annotated[str, StringConstraints(pattern=rf"^[{WHITESPACE}]*[A-Za-z]{{3}}[{WHITESPACE}]*$"), Stripped,
                     AfterValidator(str.upper)]
Sku = Annotated[str, StringConstraints(pattern=rf"^[{WHITESPACE}]*[A-Za-z0-9][A-Za-z0-9._-]{{0,63}}[{WHITESPACE}]*$")]
Category = Annotated[str, StringConstraints(min_length=1, max_length=60, pattern=LINE_NOT_BLANK), OneLine, Stripped]
Price = Annotated[int, Field(ge=0, le=MAX_PRICE_CENTS), WholeNumber]
Stock = Annotated[int, Field(ge=0, le=MAX_STOCK), WholeNumber]


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
    stock: Stock = 0
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

    # ``omittable()``: absent means unchanged, and null is refused (below), so the document
    # shows no null.
    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra={"minProperties": 1})

    name: Name | None = omittable()
    description: Description | None = omittable()
    priceCents: Price | None = omittable()
    currency: Currency | None = omittable()
    sku: Sku | None = omittable()
    category: Category | None = omittable()
    active: bool | None = omittable()

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

    search: Annotated[str, StringConstraints(max_length=100, pattern=LINE), OneLine] | None = None
    category: Annotated[str, StringConstraints(max_length=60, pattern=LINE), OneLine] | None = None
    minPriceCents: int | None = Field(None, ge=0, le=MAX_PRICE_CENTS)
    maxPriceCents: int | None = Field(None, ge=0, le=MAX_PRICE_CENTS)

    @model_validator(mode="after")
    def _range(self) -> ProductListQuery:
        low, high = self.minPriceCents, self.maxPriceCents
        if low is not None and high is not None and low > high:
            # A rule JSON Schema cannot state (it compares two parameters), so it has its own type.
            raise PydanticCustomError("price_range", "minPriceCents must not be above maxPriceCents")
        return self


class ImageRendition(BaseModel):
    """One size of a product's picture (WebP, metadata stripped)."""

    url: str
    width: int
    height: int


class ProductImage(BaseModel):
    """A product's picture: ``thumbnail`` for the grid, ``detail`` for the product page."""

    thumbnail: ImageRendition
    detail: ImageRendition


def _image_type(value: str) -> str:
    if value not in images.CONTENT_TYPES:
        raise PydanticCustomError("image_type", "{value} is not accepted: upload a JPEG, PNG or WebP image",
                                  {"value": value or "this type"})
    return value


def _image_size(value: int) -> int:
    if value > images.MAX_UPLOAD_BYTES:
        raise PydanticCustomError("image_too_large", "the file is {size}; an image may be at most {limit}",
                                  {"size": images.mib(value), "limit": images.mib(images.MAX_UPLOAD_BYTES)})
    return value


class ImageUploadBody(BaseModel):
    """POST /api/products/{id}/image-uploads: what the browser is about to send."""

    model_config = ConfigDict(extra="forbid", strict=True)

    contentType: Annotated[str, AfterValidator(_image_type),
                           Field(json_schema_extra={"enum": list(images.CONTENT_TYPES)})]
    size: Annotated[int, Field(ge=1, json_schema_extra={"maximum": images.MAX_UPLOAD_BYTES}), WholeNumber,
                    AfterValidator(_image_size)]


UploadStatus = Literal["waiting", "ready", "rejected"]


class ImageUpload(BaseModel):
    """A presigned S3 POST: send ``fields`` and then the file (as ``file``) to ``url`` before ``expiresAt``."""

    uploadId: str
    productId: str
    url: str
    fields: dict[str, str]
    maxBytes: int
    expiresAt: str
    status: UploadStatus


class ImageUploadState(BaseModel):
    """What became of an upload: ``waiting`` for the file or its processing, ``ready`` (the product shows
    it) or ``rejected`` (``error`` says why; the product is unchanged)."""

    uploadId: str
    productId: str
    status: UploadStatus
    error: str | None
    createdAt: str
    updatedAt: str


class ImageUploadPath(BaseModel):
    """The ``{id}`` and ``{uploadId}`` of /api/products/{id}/image-uploads/{uploadId}."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=ID_PATTERN)
    uploadId: str = Field(pattern=ID_PATTERN)


class Product(BaseModel):
    """A product as the API shows it, with its current ``stock`` and ``available`` units, and its
    picture (``image``; null until one is added)."""

    id: str
    name: str
    description: str
    priceCents: int
    currency: str
    sku: str
    category: str
    active: bool
    createdAt: str
    updatedAt: str
    stock: int
    available: int
    image: ProductImage | None


class ProductPage(Page[Product]):
    """GET /api/products."""
