"""GET /api/orders/{id}: the order, for its owner or an admin (anyone else gets 404)."""

from __future__ import annotations

from typing import Any

from shop.http import Request, api_handler, validate
from shop.orders import service
from shop.orders.models import Order, OrderPath
from shop.paging import NoQuery


@api_handler
def handler(request: Request) -> tuple[int, Any]:
    caller = request.require_caller()
    path = validate(OrderPath, {"id": request.path_param("id")})
    request.parse_query(NoQuery)
    return 200, Order.model_validate(service.to_public(service.get_order(caller, path.id)))
