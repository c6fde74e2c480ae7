"""POST /api/auth/register: a new customer account and its token."""

from __future__ import annotations

from typing import Any

from shop.http import Request, api_handler
from shop.identity import service
from shop.identity.models import RegisterBody, Session
from shop.paging import NoQuery


@api_handler
def handler(request: Request) -> tuple[int, Any]:
    request.parse_query(NoQuery)
    body = request.parse(RegisterBody)
    return 201, Session.model_validate(service.register(body.email, body.password, body.name))
