"""Kafka order.cancelled: give back what the order reserved (or was sold, if delivered)."""

from __future__ import annotations

from shop.consumer import event_consumer
from shop.inventory import reservations

handler = event_consumer(reservations.on_order_cancelled)
