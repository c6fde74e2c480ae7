"""Kafka consumer of ``order.created``: charge the order exactly once (transient errors retry the batch)."""

from __future__ import annotations

from shop.consumer import Envelope, event_consumer
from shop.payments import service


@event_consumer
def handler(envelope: Envelope) -> None:
    service.service().charge(envelope)
