"""GET /api/auth/me: the caller's own user record (never the password hash)."""

from __future__ import annotations

from typing import Any

from shop.http import Request, api_handler
from shop.identity import service
from shop.identity.models import User
from shop.paging import NoQuery


@api_handler
def handler(request: Request) -> tuple[int, Any]:
    caller = request.require_caller()
    request.parse_query(NoQuery)
    return 200, User.model_validate(service.get_user(caller.user_id))
