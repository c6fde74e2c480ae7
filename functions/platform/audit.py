"""Kafka consumer: every domain event is recorded once in the ``audit`` collection."""

from __future__ import annotations

from pymongo.errors import DuplicateKeyError

from shop import clients
from shop.consumer import Envelope, event_consumer


@event_consumer
def handler(envelope: Envelope) -> None:
    record = {k: v for k, v in envelope.items() if k != "id"}
    try:
        clients.db()["audit"].insert_one({"_id": envelope["id"], **record})
    except DuplicateKeyError:
        pass  # redelivery: already recorded
