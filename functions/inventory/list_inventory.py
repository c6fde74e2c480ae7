"""GET /api/inventory (admin): inventory records by product id; ``?lowStock=true`` for available < 10."""

from __future__ import annotations

from typing import Any

from shop.http import Request, api_handler
from shop.inventory import service
from shop.inventory.models import InventoryListQuery, InventoryPage


@api_handler
def handler(request: Request) -> tuple[int, Any]:
    request.require_admin()
    query = request.parse_query(InventoryListQuery)
    return 200, InventoryPage.model_validate(
        service.list_records(low_stock=query.lowStock, limit=query.limit, cursor=query.cursor))
