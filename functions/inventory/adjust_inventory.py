"""PATCH /api/inventory/{productId} (admin): restock by ``delta`` or set ``stock``; publishes inventory.updated."""

from __future__ import annotations

from typing import Any

from shop.http import Request, api_handler
from shop.inventory import service
from shop.inventory.models import AdjustBody


@api_handler
def handler(request: Request) -> tuple[int, Any]:
    request.require_admin()
    product_id = request.path_param("productId")
    body = request.parse(AdjustBody)
    return 200, service.adjust(
        product_id, delta=body.delta, stock=body.stock, note=body.note, correlation_id=request.correlation_id
    )
