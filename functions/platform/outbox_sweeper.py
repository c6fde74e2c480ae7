"""Scheduled: publish outbox events older than the grace period that were never marked sent, and
forget event-log entries older than the retention."""

from __future__ import annotations

import logging
from typing import Any

from shop import clients, eventlog, outbox
from shop.config import get_settings

log = logging.getLogger(__name__)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    settings = get_settings()
    grace = float(event.get("olderThanSeconds", settings.outbox_grace_seconds))
    db = clients.db()
    published = {name: outbox.sweep(db[name], older_than=grace) for name in outbox.OUTBOX_COLLECTIONS}
    if any(published.values()):
        log.info("outbox sweeper republished %s", published)
    pruned = eventlog.prune(db, older_than=settings.event_log_retention_seconds)
    return {"published": published, "pruned": pruned}
