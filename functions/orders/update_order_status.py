"""PATCH /api/orders/{id}/status: admins move an order along the state machine (illegal → 409)."""

from __future__ import annotations

from typing import Any

from shop.http import Request, api_handler, validate
from shop.orders import service
from shop.orders.models import Order, OrderPath, StatusChange
from shop.paging import NoQuery


@api_handler
def handler(request: Request) -> tuple[int, Any]:
    caller = request.require_admin()
    path = validate(OrderPath, {"id": request.path_param("id")})
    request.parse_query(NoQuery)
    body = request.parse(StatusChange)
    order = service.update_status(caller, path.id, body.status, request.correlation_id)
    return 200, Order.model_validate(service.to_public(order))
