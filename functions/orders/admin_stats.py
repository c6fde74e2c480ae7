"""GET /api/admin/stats: order counts by status, revenue and the low-stock count (admins only)."""

from __future__ import annotations

from typing import Any

from shop.http import Request, api_handler
from shop.orders import service
from shop.orders.models import AdminStats
from shop.paging import NoQuery


@api_handler
def handler(request: Request) -> tuple[int, Any]:
    caller = request.require_admin()
    request.parse_query(NoQuery)
    return 200, AdminStats.model_validate(service.admin_stats(caller))
