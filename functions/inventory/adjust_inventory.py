"""PATCH /api/inventory/{productId} (admin): restock by ``delta`` or set ``stock``; publishes inventory.updated."""

from __future__ import annotations

from typing import Any

from shop.http import Request, api_handler, validate
from shop.inventory import service
from shop.inventory.models import AdjustBody, InventoryPath, InventoryRecord
from shop.paging import NoQuery


@api_handler
def handler(request: Request) -> tuple[int, Any]:
    request.require_admin()
    path = validate(InventoryPath, {"productId": request.path_param("productId")})
    request.parse_query(NoQuery)
    body = request.parse(AdjustBody)
    record = service.adjust(path.productId, body, correlation_id=request.correlation_id)
    return 200, InventoryRecord.model_validate(record)
