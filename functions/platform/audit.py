"""Kafka consumer: every domain event is recorded once in the ``audit`` collection (one write per batch)."""

from __future__ import annotations

from shop import clients
from shop.consumer import batch_consumer
from shop.envelope import Envelope
from shop.store import insert_new


@batch_consumer
def handler(envelopes: list[Envelope]) -> None:
    # A redelivered event is already recorded under its id and is left as it is.
    insert_new(clients.db()["audit"], [{"_id": e.id, **e.model_dump(exclude={"id"}, exclude_unset=True)}
                                       for e in envelopes])
