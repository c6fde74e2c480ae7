"""POST /api/products (admin): a new product with its inventory record; publishes product.created."""

from __future__ import annotations

from typing import Any

from shop.catalog import service
from shop.catalog.models import Product, ProductCreate
from shop.http import Request, api_handler
from shop.paging import NoQuery


@api_handler
def handler(request: Request) -> tuple[int, Any]:
    request.require_admin()
    request.parse_query(NoQuery)
    body = request.parse(ProductCreate)
    return 201, Product.model_validate(service.create_product(body, correlation_id=request.correlation_id))
