"""GET /api/inventory/{productId} (public): stock, reserved, available and sold of one product."""

from __future__ import annotations

from typing import Any

from shop.http import Request, api_handler, validate
from shop.inventory import service
from shop.inventory.models import InventoryPath, InventoryRecord
from shop.paging import NoQuery


@api_handler
def handler(request: Request) -> tuple[int, Any]:
    path = validate(InventoryPath, {"productId": request.path_param("productId")})
    request.parse_query(NoQuery)
    return 200, InventoryRecord.model_validate(service.get(path.productId))
