"""GET /api/inventory/{productId} (public): stock, reserved, available and sold of one product."""

from __future__ import annotations

from typing import Any

from shop.http import Request, api_handler
from shop.inventory import service


@api_handler
def handler(request: Request) -> tuple[int, Any]:
    return 200, service.get(request.path_param("productId"))
