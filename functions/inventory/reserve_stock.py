"""Kafka order.created: reserve every line of the order, or none (inventory.reservation-failed)."""

from __future__ import annotations

from shop.consumer import event_consumer
from shop.inventory import reservations

handler = event_consumer(reservations.on_order_created)
