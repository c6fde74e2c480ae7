"""Kafka consumer: every domain event is recorded once in the ``audit`` collection."""

from __future__ import annotations

from pymongo.errors import DuplicateKeyError

from shop import clients
from shop.consumer import event_consumer
from shop.envelope import Envelope


@event_consumer
def handler(envelope: Envelope) -> None:
    record = envelope.model_dump(exclude={"id"}, exclude_unset=True)
    try:
        clients.db()["audit"].insert_one({"_id": envelope.id, **record})
    except DuplicateKeyError:
        pass  # redelivery: already recorded
