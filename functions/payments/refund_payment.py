"""Kafka consumer of ``order.cancelled``: refund a paid order once, or make sure it is never charged."""

from __future__ import annotations

from shop.consumer import Envelope, event_consumer
from shop.payments import service


@event_consumer
def handler(envelope: Envelope) -> None:
    service.service().cancel(envelope)
