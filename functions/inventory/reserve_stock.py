"""Kafka order.created: reserve every line of the order, or none (inventory.reservation-failed)."""

from __future__ import annotations

from shop.consumer import event_consumer
from shop.envelope import Envelope
from shop.inventory import reservations


@event_consumer
def handler(envelope: Envelope) -> None:
    reservations.on_order_created(envelope)
