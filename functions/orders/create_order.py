"""POST /api/orders: a customer places an order (admins get 403); ``Idempotency-Key`` makes retries safe."""

from __future__ import annotations

from typing import Any

from shop.http import Request, api_handler
from shop.orders import service
from shop.orders.models import CreateOrder, IdempotencyHeader, Order
from shop.paging import NoQuery


@api_handler
def handler(request: Request) -> tuple[int, Any]:
    caller = request.require_caller()
    service.ensure_customer(caller)
    request.parse_query(NoQuery)
    key = request.parse_headers(IdempotencyHeader).key
    body = request.parse(CreateOrder)
    result = service.create_order(caller, body, key, request.correlation_id)
    return 201, Order.model_validate(service.to_public(result.order))
