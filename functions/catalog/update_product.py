"""PATCH /api/products/{id} (admin): change some fields; publishes product.updated."""

from __future__ import annotations

from typing import Any

from shop.catalog import service
from shop.catalog.models import Product, ProductPath, ProductUpdate
from shop.http import Request, api_handler, validate
from shop.paging import NoQuery


@api_handler
def handler(request: Request) -> tuple[int, Any]:
    request.require_admin()
    path = validate(ProductPath, {"id": request.path_param("id")})
    request.parse_query(NoQuery)
    body = request.parse(ProductUpdate)
    product = service.update_product(path.id, body.changes(), correlation_id=request.correlation_id)
    return 200, Product.model_validate(product)
