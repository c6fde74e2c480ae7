"""PATCH /api/products/{id} (admin): change some fields; publishes product.updated."""

from __future__ import annotations

from typing import Any

from shop.catalog import service
from shop.catalog.models import ProductUpdate
from shop.http import Request, api_handler


@api_handler
def handler(request: Request) -> tuple[int, Any]:
    request.require_admin()
    product_id = request.path_param("id")
    body = request.parse(ProductUpdate)
    return 200, service.update_product(product_id, body.changes(), correlation_id=request.correlation_id)
