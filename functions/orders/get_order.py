"""GET /api/orders/{id}: the order, for its owner or an admin (anyone else gets 404)."""

from __future__ import annotations

from typing import Any

from shop.http import Request, api_handler
from shop.orders import service


@api_handler
def handler(request: Request) -> tuple[int, Any]:
    caller = request.require_caller()
    return 200, service.to_public(service.get_order(caller, request.path_param("id")))
