"""The response model of GET /api/openapi.json."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class OpenApiDocument(BaseModel):
    """An OpenAPI 3.1 document (its top-level members; the rest is the OpenAPI specification's)."""

    model_config = ConfigDict(extra="allow")

    openapi: str
    info: dict[str, Any]
    paths: dict[str, Any]
    components: dict[str, Any]
