"""GET /api/admin/stats: order counts by status, revenue and the low-stock count (admins only)."""

from __future__ import annotations

from typing import Any

from shop.http import Request, api_handler
from shop.orders import service


@api_handler
def handler(request: Request) -> tuple[int, Any]:
    return 200, service.admin_stats(request.require_admin())
