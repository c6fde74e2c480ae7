"""Every HTTP route of ``template.yaml`` with the pydantic models its handler validates and answers with.

The OpenAPI document is generated from this table; ``tests/unit/test_openapi_document.py``
fails when a template route is missing here (or differs in method, path or access) and when a
handler stops validating with the models named here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel

from shop.catalog.models import (
    ImageUpload,
    ImageUploadBody,
    ImageUploadPath,
    ImageUploadState,
    Product,
    ProductCreate,
    ProductListQuery,
    ProductPage,
    ProductPath,
    ProductUpdate,
)
from shop.health import Health
from shop.identity.models import LoginBody, RegisterBody, Session, User
from shop.inventory.models import AdjustBody, InventoryListQuery, InventoryPage, InventoryPath, InventoryRecord
from shop.openapi.models import OpenApiDocument
from shop.orders.models import (
    AdminStats,
    CancelOrder,
    CreateOrder,
    IdempotencyHeader,
    ListOrders,
    Order,
    OrderPage,
    OrderPath,
    StatusChange,
    Timeline,
)
from shop.paging import NoQuery

#: Who may call a route: anyone, any signed-in user, customers only, admins only.
Access = Literal["public", "user", "customer", "admin"]


@dataclass(frozen=True)
class Link:
    """An OpenAPI link: how a response feeds the parameters (or body) of a next operation."""

    operation_id: str
    parameters: dict[str, str] = field(default_factory=dict)
    request_body: Any = None


@dataclass(frozen=True)
class Route:
    """One HTTP operation and the models of its request and response."""

    operation_id: str
    method: str
    path: str
    summary: str
    tag: str
    access: Access
    response: type[BaseModel]
    status: int = 200
    body: type[BaseModel] | None = None
    body_required: bool = True
    query: type[BaseModel] | None = None
    path_params: type[BaseModel] | None = None
    headers: type[BaseModel] | None = None
    #: Error statuses beyond those the request's shape implies (400, 401, 403, 404, 413).
    errors: tuple[int, ...] = ()
    links: dict[str, Link] = field(default_factory=dict)
    #: A public route that reads a bearer token when one is sent (an admin sees more).
    optional_auth: bool = False


#: The id in the response body: of the product or the order just created or read.
_ID = "$response.body#/id"
#: Link body: one unit of the product just created, to a fixed address.
_ORDER_THIS_PRODUCT = {
    "items": [{"productId": _ID, "quantity": 1}],
    "shippingAddress": {"line1": "1 Main St", "city": "Oslo", "postalCode": "0150", "country": "NO"},
}
_ORDER_LINKS = {
    "GetOrder": Link("GetOrder", {"path.id": _ID}),
    "CancelOrder": Link("CancelOrder", {"path.id": _ID}),
}

ROUTES: tuple[Route, ...] = (
    Route("Health", "get", "/api/health", "Liveness of the API and its database", "platform", "public",
          Health, errors=(503,)),
    Route("OpenApi", "get", "/api/openapi.json", "This document", "platform", "public", OpenApiDocument),
    Route("Register", "post", "/api/auth/register", "Create a customer account and get its token", "identity",
          "public", Session, status=201, body=RegisterBody, query=NoQuery, errors=(409,)),
    Route("Login", "post", "/api/auth/login", "Exchange email and password for a token", "identity", "public",
          Session, body=LoginBody, query=NoQuery, errors=(401, 429)),
    Route("Me", "get", "/api/auth/me", "The caller's own user record", "identity", "user", User,
          query=NoQuery, errors=(404,)),
    Route("ListProducts", "get", "/api/products", "Active products with their stock, searched and paged",
          "catalog", "public", ProductPage, query=ProductListQuery),
    Route("GetProduct", "get", "/api/products/{id}", "One active product with its stock (admins: any product)",
          "catalog", "public", Product, query=NoQuery, path_params=ProductPath, optional_auth=True),
    Route("CreateProduct", "post", "/api/products", "Create a product and its inventory record", "catalog",
          "admin", Product, status=201, body=ProductCreate, query=NoQuery, errors=(409,), links={
              "GetProduct": Link("GetProduct", {"path.id": _ID}),
              "GetInventory": Link("GetInventory", {"path.productId": _ID}),
              "OrderIt": Link("CreateOrder", request_body=_ORDER_THIS_PRODUCT),
          }),
    Route("UpdateProduct", "patch", "/api/products/{id}", "Change some fields of a product (not its stock)",
          "catalog", "admin", Product, body=ProductUpdate, query=NoQuery, path_params=ProductPath, errors=(409,)),
    Route("CreateImageUpload", "post", "/api/products/{id}/image-uploads",
          "A presigned S3 POST for one picture of the product (JPEG, PNG or WebP; at most 5 MiB)", "catalog",
          "admin", ImageUpload, status=201, body=ImageUploadBody, query=NoQuery, path_params=ProductPath, links={
              "GetImageUpload": Link("GetImageUpload", {"path.id": "$response.body#/productId",
                                                        "path.uploadId": "$response.body#/uploadId"}),
          }),
    Route("GetImageUpload", "get", "/api/products/{id}/image-uploads/{uploadId}",
          "What became of an upload: waiting, ready, or rejected with the reason", "catalog", "admin",
          ImageUploadState, query=NoQuery, path_params=ImageUploadPath),
    Route("GetInventory", "get", "/api/inventory/{productId}", "Stock figures of one product", "inventory",
          "public", InventoryRecord, query=NoQuery, path_params=InventoryPath),
    Route("ListInventory", "get", "/api/inventory", "Inventory records by product id (lowStock=true: the low ones)",
          "inventory", "admin", InventoryPage, query=InventoryListQuery),
    Route("AdjustInventory", "patch", "/api/inventory/{productId}", "Restock by a delta, or set the stock count",
          "inventory", "admin", InventoryRecord, body=AdjustBody, query=NoQuery, path_params=InventoryPath,
          errors=(409,)),
    Route("CreateOrder", "post", "/api/orders", "Place an order (customers); prices come from the catalog",
          "orders", "customer", Order, status=201, body=CreateOrder, query=NoQuery, headers=IdempotencyHeader,
          errors=(409,), links=_ORDER_LINKS),
    Route("ListOrders", "get", "/api/orders", "The caller's orders (admins: everyone's), newest first", "orders",
          "user", OrderPage, query=ListOrders),
    Route("GetOrder", "get", "/api/orders/{id}", "One order, for its owner or an admin", "orders", "user", Order,
          query=NoQuery, path_params=OrderPath, links={"CancelOrder": Link("CancelOrder", {"path.id": _ID})}),
    Route("GetOrderTimeline", "get", "/api/orders/{id}/timeline",
          "The order's business events in time order, for its owner or an admin", "orders", "user", Timeline,
          query=NoQuery, path_params=OrderPath),
    Route("UpdateOrderStatus", "patch", "/api/orders/{id}/status", "Move an order along the state machine",
          "orders", "admin", Order, body=StatusChange, query=NoQuery, path_params=OrderPath, errors=(409,)),
    Route("CancelOrder", "post", "/api/orders/{id}/cancel", "Cancel a pending, paid or processing order",
          "orders", "user", Order, body=CancelOrder, body_required=False, query=NoQuery, path_params=OrderPath,
          errors=(409,), links={"GetOrder": Link("GetOrder", {"path.id": _ID})}),
    Route("AdminStats", "get", "/api/admin/stats", "Order counts by status, revenue and the low-stock count",
          "orders", "admin", AdminStats, query=NoQuery),
)
