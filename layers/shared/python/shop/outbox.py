"""The transactional outbox, embedded in the aggregate document.

Events are appended to the document in the same compare-and-swap write as the state change
(:func:`add_events`), published after the write (:func:`publish`), written to the event log
(:mod:`shop.eventlog`), then removed from the document. A crash in between leaves them in
``outbox`` with ``outboxPending`` set, and the sweeper (:func:`sweep`) publishes them later.
Consumers are idempotent on the event ``id``, so publishing twice is harmless.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any

from pymongo.collection import Collection

from shop import clients, eventlog
from shop.envelope import wire_value
from shop.store import Doc, mutate

log = logging.getLogger(__name__)

#: Collections whose documents carry an outbox; the sweeper visits each.
OUTBOX_COLLECTIONS: tuple[str, ...] = ("orders", "products", "inventory", "reservations", "payments")


def add_events(doc: Doc, events: list[dict[str, Any]]) -> Doc:
    """Append ``events`` to ``doc``'s outbox (call inside a :func:`shop.store.mutate` change)."""
    if not events:
        return doc
    pending = list(doc.get("outbox") or [])
    pending.extend(events)
    doc["outbox"] = pending
    doc["outboxPending"] = True
    doc["outboxSince"] = time.time()
    return doc


def send(events: list[dict[str, Any]], *, timeout: float = 5.0) -> None:
    """Publish envelopes to their topics and wait until the broker has them all."""
    producer = clients.kafka_producer()
    futures = []
    for event in events:
        value = json.dumps(wire_value(event), separators=(",", ":")).encode()
        headers = [
            ("event-type", event["type"].encode()),
            ("correlation-id", str(event.get("correlationId", "")).encode()),
        ]
        futures.append(producer.send(event["type"], key=str(event["key"]).encode(), value=value, headers=headers))
    try:
        for event, future in zip(events, futures, strict=True):
            meta = future.get(timeout=timeout)
            log.info("event published", extra={
                "eventId": event["id"], "eventType": event["type"], "key": event["key"],
                "correlationId": event.get("correlationId"), "occurredAt": event.get("occurredAt"),
                "topic": meta.topic, "partition": meta.partition, "offset": meta.offset, "sentAt": meta.timestamp})
    except Exception:
        clients.reset_kafka_producer()
        raise


def change(collection: Collection[Doc], doc_id: str, fn: Callable[[Doc | None], Doc | None], *,
           known: Doc | None = None, absent: bool = False) -> tuple[Doc | None, bool]:
    """:func:`shop.store.mutate` on one document, then :func:`publish` what the write put in its outbox."""
    doc, written = mutate(collection, doc_id, fn, known=known, absent=absent)
    if written:
        publish(collection, doc)
    return doc, written


def publish(collection: Collection[Doc], doc: Doc | None) -> int:
    """Publish what ``doc``'s outbox holds and remove it from the stored document.

    Never raises: the state change is already stored when this runs, so a failure here (broker
    away, the clearing write losing every race) must not turn a done change into an error; the
    events stay pending and the sweeper publishes them. Returns how many events were published.
    """
    if not doc or not doc.get("outbox"):
        return 0
    try:
        return _send_and_clear(collection, doc)
    except Exception:
        log.warning("publishing %s %s failed; left for the sweeper", collection.name, doc.get("_id"), exc_info=True)
        return 0


def _send_and_clear(collection: Collection[Doc], doc: Doc) -> int:
    events = list(doc["outbox"])
    send(events)
    # The broker may forget them (the local one keeps its log in memory): keep them in the database
    # before they leave the document, so every event is always in an outbox or in the event log.
    eventlog.record(collection.database, events)
    sent = {e["id"] for e in events}

    def clear(current: Doc | None) -> Doc | None:
        if current is None or not current.get("outbox"):
            return None
        left = [e for e in current["outbox"] if e["id"] not in sent]
        if len(left) == len(current["outbox"]):
            return None
        current["outbox"] = left
        current["outboxPending"] = bool(left)
        return current

    # Usually nobody wrote in between: clear with one guarded replace, no extra read.
    version = doc.get("version")
    if version is not None:
        fast = clear(dict(doc))
        if fast is not None:
            fast["version"] = int(version) + 1
            if collection.replace_one({"_id": doc["_id"], "version": version}, fast).matched_count == 1:
                return len(events)
    mutate(collection, doc["_id"], clear)
    return len(events)


def sweep(collection: Collection[Doc], *, older_than: float, limit: int = 200) -> int:
    """Publish the outboxes that were written more than ``older_than`` seconds ago and never cleared."""
    cutoff = time.time() - older_than
    published = 0
    for doc in collection.find({"outboxPending": True, "outboxSince": {"$lt": cutoff}}).limit(limit):
        published += publish(collection, doc)  # never raises: one stuck document cannot stop the sweep
    return published
