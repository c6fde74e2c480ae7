"""POST /api/orders/{id}/cancel: the owner or an admin cancels a pending, paid or processing order."""

from __future__ import annotations

from typing import Any

from shop.http import Request, api_handler
from shop.orders import service
from shop.orders.models import CancelOrder


@api_handler
def handler(request: Request) -> tuple[int, Any]:
    caller = request.require_caller()
    body = request.parse(CancelOrder) if request.body_bytes().strip() else CancelOrder()
    order = service.cancel_order(caller, request.path_param("id"), body.reason, request.correlation_id)
    return 200, service.to_public(order)
