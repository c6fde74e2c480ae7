"""GET /api/orders: the caller's orders (admins: everyone's), newest first, ``?status=&limit=&cursor=``."""

from __future__ import annotations

from typing import Any

from shop.http import Request, api_handler
from shop.orders import service
from shop.orders.models import ListOrders, OrderPage


@api_handler
def handler(request: Request) -> tuple[int, Any]:
    caller = request.require_caller()
    return 200, OrderPage.model_validate(service.list_orders(caller, request.parse_query(ListOrders)))
