"""POST /api/orders/{id}/cancel: the owner or an admin cancels a pending, paid or processing order."""

from __future__ import annotations

from typing import Any

from shop.http import Request, api_handler, validate
from shop.orders import service
from shop.orders.models import CancelOrder, Order, OrderPath
from shop.paging import NoQuery


@api_handler
def handler(request: Request) -> tuple[int, Any]:
    caller = request.require_caller()
    path = validate(OrderPath, {"id": request.path_param("id")})
    request.parse_query(NoQuery)
    body = request.parse(CancelOrder) if request.body_bytes().strip() else CancelOrder()
    order = service.cancel_order(caller, path.id, body.reason, request.correlation_id)
    return 200, Order.model_validate(service.to_public(order))
