"""Scheduled: re-drive orders stuck between saga steps (the saga timeout), from the event log.

EventBridge invokes it every minute. The local stack also invokes it as soon as its broker came back
empty or its database came back (``detail.brokerRestarted`` / ``detail.databaseRestarted``); then
every unsettled order is re-driven at once instead of after ``SAGA_STUCK_AFTER_SECONDS``.
"""

from __future__ import annotations

from typing import Any

from shop import clients
from shop.config import get_settings
from shop.saga import service


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    detail = event.get("detail") or {}
    nudged = bool(detail.get("brokerRestarted") or detail.get("databaseRestarted"))
    stuck_after = 0.0 if nudged else get_settings().saga_stuck_after_seconds
    return service.reconcile(clients.db(), stuck_after=stuck_after).summary()
