"""Kafka consumer: payment and stock-reservation outcomes move orders along (the order saga)."""

from __future__ import annotations

from shop.consumer import Envelope, event_consumer
from shop.orders import service


@event_consumer
def handler(envelope: Envelope) -> None:
    service.apply_saga_event(envelope)
