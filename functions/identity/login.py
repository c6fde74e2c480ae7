"""POST /api/auth/login: the user and a fresh token for good credentials, else 401."""

from __future__ import annotations

from typing import Any

from shop.http import Request, api_handler
from shop.identity import service
from shop.identity.models import LoginBody, Session
from shop.paging import NoQuery


@api_handler
def handler(request: Request) -> tuple[int, Any]:
    request.parse_query(NoQuery)
    body = request.parse(LoginBody)
    source_ip = str(request.event.request_context.identity.source_ip or "")
    return 200, Session.model_validate(service.login(body.email, body.password, source_ip))
