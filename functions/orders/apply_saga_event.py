"""Kafka consumer: payment and stock-reservation outcomes move orders along (the order saga)."""

from __future__ import annotations

from shop.consumer import event_consumer
from shop.envelope import Envelope
from shop.orders import service


@event_consumer
def handler(envelope: Envelope) -> None:
    service.apply_saga_event(envelope)
