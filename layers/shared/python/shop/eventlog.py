"""The durable event log: every envelope the outbox published, kept in the database.

The local broker keeps its log in memory, so a published event may exist nowhere once the
broker restarts. The outbox therefore writes each envelope here (``events`` collection, ``_id`` =
event id) *before* it clears the event from the aggregate's document: an event is always in an
outbox or in this log. A crash between the two only publishes it again, which consumers
tolerate (they are idempotent on the event id and on the order id).

The saga reconciler (:mod:`shop.saga.service`) re-publishes an order's events from here, with
their original ids, when the order is stuck between steps. Entries older than
``EVENT_LOG_RETENTION_SECONDS`` are pruned by the outbox sweeper, the same way on every
MongoDB-compatible service (the local stand-in keeps TTL indexes but never expires anything).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import Any

from pymongo.collection import Collection
from pymongo.database import Database

from shop.store import insert_new

log = logging.getLogger(__name__)

COLLECTION = "events"

Envelope = dict[str, Any]


def events(db: Database[dict[str, Any]]) -> Collection[dict[str, Any]]:
    return db[COLLECTION]


def aggregate_of(envelope: Envelope) -> str | None:
    """The order an event belongs to (``data.orderId``; an order event's key), else ``None``."""
    data = envelope.get("data")
    if isinstance(data, dict) and data.get("orderId"):
        return str(data["orderId"])
    if str(envelope.get("type", "")).startswith("order."):
        return str(envelope.get("key")) if envelope.get("key") else None
    return None


def entry(envelope: Envelope, *, logged_at: float) -> dict[str, Any]:
    """The log document of one envelope (which keeps its routing ``key``)."""
    return {
        "_id": str(envelope["id"]),
        "type": envelope["type"],
        "key": envelope.get("key"),
        "orderId": aggregate_of(envelope),
        "occurredAt": envelope.get("occurredAt"),
        "loggedAt": logged_at,
        "envelope": envelope,
    }


def record(db: Database[dict[str, Any]], envelopes: Iterable[Envelope], *, now: float | None = None) -> int:
    """Keep ``envelopes`` in the log; ones already there are left as they are. Returns how many were new."""
    logged_at = time.time() if now is None else now
    return insert_new(events(db), [entry(e, logged_at=logged_at) for e in envelopes])


def for_orders(db: Database[dict[str, Any]], order_ids: Iterable[str],
               types: Iterable[str] | None = None) -> dict[str, list[Envelope]]:
    """The logged envelopes of each order, oldest first (optionally only some event types)."""
    ids = sorted(set(order_ids))
    if not ids:
        return {}
    query: dict[str, Any] = {"orderId": {"$in": ids}}
    if types is not None:
        query["type"] = {"$in": sorted(set(types))}
    out: dict[str, list[Envelope]] = {}
    for doc in events(db).find(query, {"orderId": 1, "envelope": 1, "loggedAt": 1}).sort("loggedAt", 1):
        out.setdefault(str(doc["orderId"]), []).append(dict(doc["envelope"]))
    return out


def prune(db: Database[dict[str, Any]], *, older_than: float, now: float | None = None) -> int:
    """Forget entries logged more than ``older_than`` seconds ago; returns how many."""
    cutoff = (time.time() if now is None else now) - older_than
    return int(events(db).delete_many({"loggedAt": {"$lt": cutoff}}).deleted_count)


# --- read side of the realtime relay (realtime_relay.event_log) ----------------------------------


def logged_after(db: Database[dict[str, Any]], after: float, types: Iterable[str], *,
                 limit: int) -> list[dict[str, Any]]:
    """Entries of ``types`` logged after ``after`` (epoch seconds), oldest first, at most ``limit``
    (each with ``loggedAt``, ``type`` and ``envelope``)."""
    query = {"loggedAt": {"$gt": after}, "type": {"$in": sorted(set(types))}}
    cursor = events(db).find(query, {"type": 1, "loggedAt": 1, "envelope": 1}).sort("loggedAt", 1).limit(limit)
    return list(cursor)


def latest_ids(db: Database[dict[str, Any]], types: Iterable[str], *, limit: int) -> list[str]:
    """The ids of the ``limit`` entries of ``types`` logged last."""
    query = {"type": {"$in": sorted(set(types))}}
    return [str(d["_id"]) for d in events(db).find(query, {"_id": 1}).sort("loggedAt", -1).limit(limit)]
