"""GET /api/products (public): search, filter and page through active products with their stock."""

from __future__ import annotations

from typing import Any

from shop.catalog import service
from shop.catalog.models import ProductListQuery, ProductPage
from shop.http import Request, api_handler


@api_handler
def handler(request: Request) -> tuple[int, Any]:
    return 200, ProductPage.model_validate(service.list_products(request.parse_query(ProductListQuery)))
