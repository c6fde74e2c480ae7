"""PATCH /api/orders/{id}/status: admins move an order along the state machine (illegal → 409)."""

from __future__ import annotations

from typing import Any

from shop.http import Request, api_handler
from shop.orders import service
from shop.orders.models import StatusChange


@api_handler
def handler(request: Request) -> tuple[int, Any]:
    caller = request.require_admin()
    body = request.parse(StatusChange)
    order = service.update_status(caller, request.path_param("id"), body.status, request.correlation_id)
    return 200, service.to_public(order)
