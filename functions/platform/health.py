"""GET /api/health: the API answers and its database is reachable."""

from __future__ import annotations

from typing import Any

from shop import clients
from shop.errors import ShopError
from shop.http import Request, api_handler


class Unavailable(ShopError):
    """A dependency of the API is down."""

    status = 503
    code = "unavailable"


@api_handler
def handler(request: Request) -> tuple[int, Any]:
    try:
        clients.db().command("ping")
    except Exception as exc:
        raise Unavailable(f"database unreachable: {type(exc).__name__}") from exc
    return 200, {"status": "ok", "requestId": request.correlation_id}
