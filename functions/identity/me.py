"""GET /api/auth/me: the caller's own user record (never the password hash)."""

from __future__ import annotations

from typing import Any

from shop.http import Request, api_handler
from shop.identity import service


@api_handler
def handler(request: Request) -> tuple[int, Any]:
    return 200, service.get_user(request.require_caller().user_id)
