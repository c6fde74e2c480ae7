"""Kafka order.delivered: the order's reserved units become sold."""

from __future__ import annotations

from shop.consumer import event_consumer
from shop.inventory import reservations

handler = event_consumer(reservations.on_order_delivered)
