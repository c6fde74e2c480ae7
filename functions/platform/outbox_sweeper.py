"""Scheduled: publish outbox events older than the grace period that were never marked sent."""

from __future__ import annotations

import logging
from typing import Any

from shop import clients, outbox
from shop.config import get_settings

log = logging.getLogger(__name__)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    grace = float(event.get("olderThanSeconds", get_settings().outbox_grace_seconds))
    published = {name: outbox.sweep(clients.db()[name], older_than=grace) for name in outbox.OUTBOX_COLLECTIONS}
    if any(published.values()):
        log.info("outbox sweeper republished %s", published)
    return {"published": published}
