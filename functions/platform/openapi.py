"""GET /api/openapi.json (public): the OpenAPI 3.1 document of this API, generated from the handlers' models."""

from __future__ import annotations

from typing import Any

from shop import openapi
from shop.http import Request, api_handler
from shop.paging import NoQuery


@api_handler
def handler(request: Request) -> tuple[int, Any]:
    request.parse_query(NoQuery)
    return 200, openapi.document()
