"""GET /api/orders/{id}/timeline: the order's business events in time order, for its owner or an admin."""

from __future__ import annotations

from typing import Any

from shop.http import Request, api_handler, validate
from shop.orders import service
from shop.orders.models import OrderPath, Timeline
from shop.paging import NoQuery


@api_handler
def handler(request: Request) -> tuple[int, Any]:
    caller = request.require_caller()
    path = validate(OrderPath, {"id": request.path_param("id")})
    request.parse_query(NoQuery)
    return 200, Timeline.model_validate(service.get_timeline(caller, path.id))
