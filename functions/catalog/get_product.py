"""GET /api/products/{id} (public): one active product with its current stock."""

from __future__ import annotations

from typing import Any

from shop.catalog import service
from shop.catalog.models import ProductPath
from shop.http import Request, api_handler, validate
from shop.paging import NoQuery


@api_handler
def handler(request: Request) -> tuple[int, Any]:
    path = validate(ProductPath, {"id": request.path_param("id")})
    request.parse_query(NoQuery)
    return 200, service.get_product(path.id)
