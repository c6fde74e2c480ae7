"""GET /api/health: the API answers and its database is reachable."""

from __future__ import annotations

from typing import Any

from shop import clients
from shop.errors import ServiceUnavailable
from shop.http import Request, api_handler


@api_handler
def handler(request: Request) -> tuple[int, Any]:
    try:
        clients.db().command("ping")
    except Exception as exc:
        raise ServiceUnavailable(f"database unreachable: {type(exc).__name__}") from exc
    return 200, {"status": "ok", "requestId": request.correlation_id}
