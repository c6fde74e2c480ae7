"""Liveness of the API: it answers and its database is reachable."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from shop import clients
from shop.errors import ServiceUnavailable


class Health(BaseModel):
    """GET /api/health."""

    status: Literal["ok"]
    requestId: str


def check(request_id: str) -> Health:
    """``ok`` when the database answers a ping, else :class:`ServiceUnavailable` (503)."""
    try:
        clients.db().command("ping")
    except Exception as exc:
        raise ServiceUnavailable(f"database unreachable: {type(exc).__name__}") from exc
    return Health(status="ok", requestId=request_id)
