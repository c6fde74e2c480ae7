"""POST /api/orders: a customer places an order (admins get 403); ``Idempotency-Key`` makes retries safe."""

from __future__ import annotations

from typing import Any

from shop.http import Request, api_handler, validate
from shop.orders import service
from shop.orders.models import CreateOrder, IdempotencyHeader


@api_handler
def handler(request: Request) -> tuple[int, Any]:
    caller = request.require_caller()
    service.ensure_customer(caller)
    body = request.parse(CreateOrder)
    raw_key = request.header("idempotency-key")
    key = validate(IdempotencyHeader, {"key": raw_key}).key if raw_key is not None else None
    result = service.create_order(caller, body, key, request.correlation_id)
    return 201, service.to_public(result.order)
