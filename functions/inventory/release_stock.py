"""Kafka order.cancelled: give back what the order reserved (or was sold, if delivered)."""

from __future__ import annotations

from shop.consumer import event_consumer
from shop.envelope import Envelope
from shop.inventory import reservations


@event_consumer
def handler(envelope: Envelope) -> None:
    reservations.on_order_cancelled(envelope)
