"""GET /api/products/{id} (public): one active product with its current stock (with an admin's token, any product)."""

from __future__ import annotations

from typing import Any

from shop.catalog import service
from shop.catalog.models import Product, ProductPath
from shop.http import Request, api_handler, validate
from shop.paging import NoQuery


@api_handler
def handler(request: Request) -> tuple[int, Any]:
    path = validate(ProductPath, {"id": request.path_param("id")})
    request.parse_query(NoQuery)
    caller = request.token_caller()
    product = service.get_product(path.id, include_inactive=caller is not None and caller.is_admin)
    return 200, Product.model_validate(product)
