"""GET /api/health: the API answers and its database is reachable."""

from __future__ import annotations

from typing import Any

from shop import health
from shop.http import Request, api_handler


@api_handler
def handler(request: Request) -> tuple[int, Any]:
    return 200, health.check(request.correlation_id)
