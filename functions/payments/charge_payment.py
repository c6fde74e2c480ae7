"""Kafka consumer of ``order.created``: charge the order exactly once (transient errors retry the batch)."""

from __future__ import annotations

from shop.consumer import event_consumer
from shop.envelope import Envelope
from shop.payments import service


@event_consumer
def handler(envelope: Envelope) -> None:
    service.charge(envelope)
