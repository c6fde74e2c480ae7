"""GET /api/products/{id} (public): one active product with its current stock."""

from __future__ import annotations

from typing import Any

from shop.catalog import service
from shop.http import Request, api_handler


@api_handler
def handler(request: Request) -> tuple[int, Any]:
    return 200, service.get_product(request.path_param("id"))
